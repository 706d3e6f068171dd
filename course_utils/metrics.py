"""Metrics as ``(numerator, denominator)`` sums, so that they add up exactly over batches.

A metric is a callable ``metric(outputs, targets) -> (num, den)`` returning two scalar tensors; the
epoch value is ``sum(num) / sum(den)``. That works for accuracy (correct / seen), IoU
(intersection / union) and Dice alike, whatever the batch sizes. Each metric checks that the
model's outputs fit it, so accuracy on a one-channel mask is an error, not a silent 100 %.
"""

from __future__ import annotations

import torch

from .data import IGNORE_INDEX

__all__ = ["Accuracy", "BinaryDice", "BinaryIoU", "PixelAccuracy", "binary_logits", "confusion_matrix"]


class Accuracy:
    """Fraction of samples whose arg-max class equals the label.

    ``outputs`` (N, classes) scores or log-probabilities, ``targets`` (N,) class indices.
    """

    name = "acc"

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor):
        if outputs.dim() != 2 or outputs.shape[1] < 2 or targets.shape != outputs.shape[:1]:
            raise ValueError(
                f"Accuracy expects class scores (N, classes >= 2) and labels (N,), got outputs "
                f"{tuple(outputs.shape)} and targets {tuple(targets.shape)}. For a segmentation mask "
                "use BinaryIoU, BinaryDice or PixelAccuracy."
            )
        correct = (outputs.argmax(dim=1) == targets).sum()
        return correct, torch.tensor(targets.numel(), device=targets.device)


def binary_logits(name: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) logits as (N, H, W); anything else is an error naming ``name``."""
    if logits.dim() == targets.dim() + 1 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.shape != targets.shape or targets.dim() < 2:
        raise ValueError(
            f"{name} expects one logit per pixel, (N, 1, H, W) or (N, H, W), matching masks (N, H, W); "
            f"got outputs {tuple(logits.shape)} and targets {tuple(targets.shape)}. For class labels "
            "use Accuracy; for a model with several output channels, pick the positive one."
        )
    return logits


def binary_counts(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX):
    """True-positive, predicted-positive and actual-positive pixel counts for a binary mask.

    ``logits`` (N, 1, H, W) or (N, H, W); ``targets`` (N, H, W) with 1/0 and ``ignore_index``.
    """
    valid = targets != ignore_index
    pred = (logits > 0) & valid
    truth = (targets == 1) & valid
    return (pred & truth).sum(), pred.sum(), truth.sum()


class BinaryIoU:
    """Intersection over union of the positive class, ``|P and T| / |P or T|`` (the Jaccard index).

    ``P``: pixels predicted positive (logit > 0), ``T``: pixels labelled 1, both among the pixels not marked
    ``ignore_index``. Summed over batches as ``(numerator, denominator)``, the epoch value is the *pooled*
    IoU of all the pixels evaluated, not a mean of per-image IoUs: a large object weighs more than a small
    one. An empty prediction of an empty truth gives 0 / 0 for that batch and adds nothing to the sums.
    """

    name = "iou"

    def __call__(self, logits, targets):
        tp, pred, truth = binary_counts(binary_logits("BinaryIoU", logits, targets), targets)
        return tp, pred + truth - tp


class BinaryDice:
    """Dice coefficient ``2 |P and T| / (|P| + |T|)`` of the positive class (its F1 score), pooled as
    :class:`BinaryIoU` is, over the same pixels.

    Since ``|P| + |T| = |P or T| + |P and T|``, the pooled Dice is a function of the pooled IoU,
    ``Dice = 2 IoU / (1 + IoU)``: it ranks models exactly as IoU does, so a comparison that reports both
    counts one measurement twice. (Means of per-image values do not obey this exactly.)
    """

    name = "dice"

    def __call__(self, logits, targets):
        tp, pred, truth = binary_counts(binary_logits("BinaryDice", logits, targets), targets)
        return 2 * tp, pred + truth


class PixelAccuracy:
    """Fraction of (non-ignored) pixels whose binary prediction is right."""

    name = "pixel_acc"

    def __call__(self, logits, targets):
        logits = binary_logits("PixelAccuracy", logits, targets)
        valid = targets != IGNORE_INDEX
        correct = ((logits > 0) == (targets == 1)) & valid
        return correct.sum(), valid.sum()


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``counts[i, j]`` = number of samples of true class ``i`` predicted as ``j``.

    ``predictions`` and ``targets``: (N,) class indices in ``[0, num_classes)``.
    """
    if predictions.shape != targets.shape or predictions.dim() != 1:
        raise ValueError(
            f"confusion_matrix expects predictions and targets of the same shape (N,), got "
            f"{tuple(predictions.shape)} and {tuple(targets.shape)}; pass outputs.argmax(1), not the outputs."
        )
    for name, values in (("predictions", predictions), ("targets", targets)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"confusion_matrix: {name} hold classes in [{int(values.min())}, {int(values.max())}], "
                f"outside [0, {num_classes - 1}]; pass num_classes={int(values.max()) + 1} or fix the labels."
            )
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)
