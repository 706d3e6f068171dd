"""Metrics as ``(numerator, denominator)`` sums, so that they add up exactly over batches.

A metric is a callable ``metric(outputs, targets) -> (num, den)`` returning two scalar tensors; the
epoch value is ``sum(num) / sum(den)``. That works for accuracy (correct / seen), IoU
(intersection / union) and Dice alike, whatever the batch sizes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import IGNORE_INDEX


class Accuracy:
    """Fraction of samples whose arg-max class equals the label."""

    name = "acc"

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor):
        correct = (outputs.argmax(dim=1) == targets).sum()
        return correct, torch.tensor(targets.numel(), device=targets.device)


def binary_counts(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX):
    """True-positive, predicted-positive and actual-positive pixel counts for a binary mask.

    ``logits`` (N, 1, H, W) or (N, H, W); ``targets`` (N, H, W) with 1/0 and ``ignore_index``.
    """
    pred = logits.reshape(targets.shape) > 0
    valid = targets != ignore_index
    truth = (targets == 1) & valid
    pred = pred & valid
    return (pred & truth).sum(), pred.sum(), truth.sum()


class BinaryIoU:
    """Intersection over union of the positive class (pixels marked ``ignore_index`` left out)."""

    name = "iou"

    def __call__(self, logits, targets):
        tp, pred, truth = binary_counts(logits, targets)
        return tp, pred + truth - tp


class BinaryDice:
    """Dice coefficient ``2 |P and T| / (|P| + |T|)`` of the positive class."""

    name = "dice"

    def __call__(self, logits, targets):
        tp, pred, truth = binary_counts(logits, targets)
        return 2 * tp, pred + truth


class PixelAccuracy:
    """Fraction of (non-ignored) pixels whose binary prediction is right."""

    name = "pixel_acc"

    def __call__(self, logits, targets):
        valid = targets != IGNORE_INDEX
        correct = ((logits.reshape(targets.shape) > 0) == (targets == 1)) & valid
        return correct.sum(), valid.sum()


class BCEDiceLoss(nn.Module):
    """Binary cross-entropy plus soft Dice loss for a one-channel mask, ignoring ``ignore_index``.

    BCE trains every pixel; the Dice term scores the overlap as a whole, so a small pet is not
    drowned by a large background.
    """

    def __init__(self, dice_weight: float = 1.0, ignore_index: int = IGNORE_INDEX, eps: float = 1.0):
        super().__init__()
        self.dice_weight, self.ignore_index, self.eps = dice_weight, ignore_index, eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.reshape(targets.shape).float()
        valid = (targets != self.ignore_index).float()
        truth = (targets == 1).float()
        bce = F.binary_cross_entropy_with_logits(logits, truth, weight=valid, reduction="sum")
        bce = bce / valid.sum().clamp(min=1)
        prob = torch.sigmoid(logits) * valid
        dice = (2 * (prob * truth).sum() + self.eps) / (prob.sum() + truth.sum() + self.eps)
        return bce + self.dice_weight * (1 - dice)


def lovasz_grad(truth_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss for errors sorted in decreasing order."""
    positives = truth_sorted.sum()
    intersection = positives - truth_sorted.cumsum(0)
    union = positives + (1 - truth_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


class LovaszHingeLoss(nn.Module):
    """Lovasz hinge loss (Berman et al., 2018): a convex surrogate of 1 - IoU of the positive class,
    computed over all valid pixels of the batch. It optimises the metric the lesson reports, where
    BCE scores pixels one at a time. ``logits`` (N, 1, H, W) or (N, H, W); ``targets`` (N, H, W)."""

    def __init__(self, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.reshape(targets.shape).float()
        valid = targets != self.ignore_index
        logits, truth = logits[valid], (targets[valid] == 1).float()
        if truth.numel() == 0:
            return logits.sum() * 0.0
        errors = 1 - logits * (2 * truth - 1)  # hinge: > 0 where a pixel is wrong or unsure
        errors_sorted, order = torch.sort(errors, descending=True)
        return torch.dot(F.relu(errors_sorted), lovasz_grad(truth[order]))
