"""Losses beyond ``torch.nn``'s: binary cross-entropy plus soft Dice for segmentation masks."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import IGNORE_INDEX
from .metrics import binary_logits

__all__ = ["BCEDiceLoss"]


class BCEDiceLoss(nn.Module):
    """Binary cross-entropy plus soft Dice loss for a one-channel mask, ignoring ``ignore_index``.

    ``logits`` (N, 1, H, W) or (N, H, W); ``targets`` (N, H, W) holding 1 (positive), 0 and
    ``ignore_index``. Returns a scalar::

        loss = BCE + dice_weight * (1 - soft Dice)
        BCE       = mean over the valid pixels of the binary cross-entropy of sigmoid(logit) and the target
        soft Dice = (2 * sum(p * t) + eps) / (sum(p) + sum(t) + eps)

    with ``p`` the predicted probability and ``t`` the 0/1 target of each valid pixel: the Dice of
    :class:`~course_utils.metrics.BinaryDice` with probabilities in place of 0/1 decisions, so that it
    has a gradient. The sums run over all the pixels of the batch (one Dice per batch, not a mean of
    per-image Dice); ``eps`` keeps an empty truth and prediction from dividing by zero. BCE trains every
    pixel; the Dice term scores the overlap as a whole, so a small object is not drowned by a large
    background. ``dice_weight=0`` is plain masked BCE.
    """

    def __init__(self, dice_weight: float = 1.0, ignore_index: int = IGNORE_INDEX, eps: float = 1.0):
        super().__init__()
        if not dice_weight >= 0:
            raise ValueError(
                f"BCEDiceLoss: dice_weight must be >= 0 (0: plain BCE, 1: BCE + Dice), got {dice_weight!r}"
            )
        if not eps > 0:
            raise ValueError(
                f"BCEDiceLoss: eps must be > 0 (it keeps an empty mask from dividing by zero), got {eps!r}; "
                "leave it at 1.0"
            )
        self.dice_weight, self.ignore_index, self.eps = dice_weight, ignore_index, eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = binary_logits("BCEDiceLoss", logits, targets).float()
        valid = (targets != self.ignore_index).float()
        truth = (targets == 1).float()
        bce = F.binary_cross_entropy_with_logits(logits, truth, weight=valid, reduction="sum")
        bce = bce / valid.sum().clamp(min=1)
        prob = torch.sigmoid(logits) * valid
        dice = (2 * (prob * truth).sum() + self.eps) / (prob.sum() + truth.sum() + self.eps)
        return bce + self.dice_weight * (1 - dice)
