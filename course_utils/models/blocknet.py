"""``BlockNet``: one CIFAR-10 skeleton, several block families (lesson 09).

The skeleton is fixed: a 3x3 convolution stem (batch-norm, ReLU) at full resolution, stages of blocks
(the first stage at 32x32, each later one halving the size), global average pooling and a linear
classifier. Only the block changes, so that two networks differ by their blocks alone:

=============  ================================================  ========================================
family         a stage's blocks                                  how a stage halves the size
=============  ================================================  ========================================
``basic``      ResNet's two 3x3 convolutions (ResidualBlock)     the first block's stride, projection
``bottleneck`` :class:`~.blocks.Bottleneck`, 1x1 -> 3x3 -> 1x1    the first block's stride, projection
``separable``  :class:`~.blocks.DepthwiseSeparable` (MobileNet)  the first block's stride
``inverted``   :class:`~.blocks.InvertedResidual` (MobileNetV2),  the first block's stride
               expansion 4 (the paper's 6 is for wider stages)
``mbconv``     InvertedResidual + SqueezeExcite, SiLU            the first block's stride
               (EfficientNet), expansion 4
``convnext``   :class:`~.blocks.ConvNeXtBlock`; a LayerNorm on   LayerNorm2d + 2x2 convolution, stride 2,
               the pooled features before the classifier        before the stage's blocks
=============  ================================================  ========================================
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import CourseModel
from .blocks import (
    Bottleneck,
    ConvNeXtBlock,
    DepthwiseSeparable,
    InvertedResidual,
    LayerNorm2d,
    conv_bn,
    projection,
)
from .resnet import ResidualBlock
from .summary import count_macs

__all__ = ["FAMILIES", "BlockNet", "widths_for_macs"]

FAMILIES = ("basic", "bottleneck", "separable", "inverted", "mbconv", "convnext")


def _block(family: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """One block of ``family`` (not ``convnext``, whose blocks keep the shape: see ``_make_stage``)."""
    if family == "basic":
        return ResidualBlock(in_channels, out_channels, stride, projection(in_channels, out_channels, stride))
    if family == "bottleneck":
        return Bottleneck(in_channels, out_channels, stride)
    if family == "separable":
        return DepthwiseSeparable(in_channels, out_channels, stride)
    if family == "inverted":
        return InvertedResidual(in_channels, out_channels, stride, expand=4)
    return InvertedResidual(in_channels, out_channels, stride, expand=4, activation=nn.SiLU, se_ratio=0.25)


class BlockNet(CourseModel):
    """A small CIFAR-10 network of one block ``family`` (one of :data:`FAMILIES`).

    ``widths[i]`` channels and ``depths[i]`` blocks in stage ``i``; the stem has ``widths[0]``
    channels. Input (N, in_channels, H, W), e.g. (N, 3, 32, 32) -> log-probabilities (N, num_classes),
    as the course's other classifiers return (``nn.NLLLoss`` or ``nn.CrossEntropyLoss`` train it).
    ``layer_scale``: the ConvNeXt blocks' starting layer scale (None: the paper's 1e-6; convnext only).
    """

    def __init__(
        self,
        family: str = "basic",
        widths=(32, 64, 128),
        depths=(1, 1, 1),
        num_classes: int = 10,
        in_channels: int = 3,
        layer_scale: float | None = None,
    ):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"BlockNet: family must be one of {sorted(FAMILIES)}, got {family!r}.")
        if len(widths) != len(depths) or not widths or min(depths) < 1:
            raise ValueError(
                f"BlockNet: widths and depths need one entry per stage and at least one block each, got "
                f"widths={list(widths)}, depths={list(depths)}; e.g. widths=(32, 64, 128), depths=(1, 1, 1)."
            )
        if layer_scale is not None and family != "convnext":
            raise ValueError(
                f"BlockNet: layer_scale is the ConvNeXt blocks' starting scale; family={family!r} has none. "
                "Leave layer_scale=None, or use family='convnext'."
            )
        self.family = family
        self.layer_scale = 1e-6 if layer_scale is None else layer_scale  # ConvNeXt's paper value
        self.stem = conv_bn(in_channels, widths[0], 3)
        stages, channels = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            stride = 1 if i == 0 else 2
            stages.append(self._make_stage(family, channels, width, depth, stride, self.layer_scale))
            channels = width
        self.stages = nn.Sequential(*stages)
        # ConvNeXt normalises the pooled features before its classifier (torchvision's does too)
        self.head_norm = nn.LayerNorm(channels, eps=1e-6) if family == "convnext" else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)

    @staticmethod
    def _make_stage(
        family: str, in_channels: int, out_channels: int, depth: int, stride: int, layer_scale: float
    ):
        """``depth`` blocks; the first one changes channels and size, the others keep them."""
        if family == "convnext":
            change = stride != 1 or in_channels != out_channels
            down = (
                [LayerNorm2d(in_channels, eps=1e-6), nn.Conv2d(in_channels, out_channels, stride, stride)]
                if change
                else []
            )
            return nn.Sequential(
                *down, *(ConvNeXtBlock(out_channels, layer_scale=layer_scale) for _ in range(depth))
            )
        blocks = [_block(family, in_channels, out_channels, stride)]
        blocks += [_block(family, out_channels, out_channels, 1) for _ in range(depth - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = self.head_norm(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return F.log_softmax(self.fc(x), dim=1)


def widths_for_macs(
    family: str, macs: int, depths=(1, 1, 1), input_size=(3, 32, 32), multiple: int = 4
) -> tuple[int, ...]:
    """The stage widths ``(w, 2w, 4w, ...)`` (``w`` a multiple of ``multiple``) whose
    ``BlockNet(family, widths, depths)`` has the multiply-adds per image closest to ``macs``: how
    lesson 09 matches the budget of different block families."""
    if macs <= 0:
        raise ValueError(f"widths_for_macs: macs must be a positive number of multiply-adds, got {macs}.")

    def widths(w: int) -> tuple[int, ...]:
        return tuple(w * 2**i for i in range(len(depths)))

    best, best_gap, w = None, None, multiple
    while True:
        cost = count_macs(BlockNet(family, widths(w), depths), input_size)
        gap = abs(cost - macs)
        if best_gap is not None and gap > best_gap:
            return widths(best)
        best, best_gap, w = w, gap, w + multiple
