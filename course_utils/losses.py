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
    ``ignore_index``. BCE trains every pixel; the Dice term scores the overlap as a whole, so a
    small pet is not drowned by a large background.
    """

    def __init__(self, dice_weight: float = 1.0, ignore_index: int = IGNORE_INDEX, eps: float = 1.0):
        super().__init__()
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
