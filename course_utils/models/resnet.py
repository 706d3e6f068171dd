"""Residual networks for CIFAR-10: the reference chapter's small ``ResNet`` and the DAWNBench ``ResNet9``.

Both return log-probabilities. ``nn.NLLLoss`` trains them; so does ``nn.CrossEntropyLoss`` (for
label smoothing), because ``log_softmax`` of log-probabilities gives them back unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import CourseModel

__all__ = [
    "BLOCKS",
    "SHORTCUTS",
    "PlainBlock",
    "ResNet",
    "ResNet9",
    "ResidualBlock",
    "ZeroPadShortcut",
    "conv3x3",
]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a batch-norm follows it)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class ZeroPadShortcut(nn.Module):
    """The parameter-free shortcut for a block that changes the shape (He et al. 2015, section 4.2,
    option A): the identity, subsampled by ``stride`` (every other pixel for stride 2) and padded with
    zero channels from ``in_channels`` up to ``out_channels``.

    (N, C_in, H, W) -> (N, C_out, H / stride, W / stride); channels ``C_in:`` of the output are zeros.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"ZeroPadShortcut pads channels, so out_channels must be >= in_channels, got "
                f"{in_channels} -> {out_channels}; use a projection (shortcut='projection') to reduce them."
            )
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # the pixels a stride-`stride` 3x3 conv centres on
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))  # zero channels at the end

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class ResidualBlock(nn.Module):
    """``relu(branch(x) + shortcut(x))`` with ``branch(x) = bn(conv(relu(bn(conv(x)))))``.

    (N, C_in, H, W) -> (N, C_out, H / stride, W / stride). The shortcut is the identity, or
    ``downsample`` when the shape changes: a projection (conv3x3 + batch-norm, ResNet-14's) or a
    :class:`ZeroPadShortcut` (no parameters).
    """

    registry_name = "basic"  # how ResNet(block=...) and checkpoints name it

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = downsample

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The two convolutions, ``F(x)``: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip path: ``x`` itself, or ``downsample(x)`` where the block changes the shape."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class PlainBlock(ResidualBlock):
    """:class:`ResidualBlock` without the shortcut: ``relu(branch(x))``.

    The same layers and parameters as a residual block whose shortcut has none (identity or
    :class:`ZeroPadShortcut`; a projection ``downsample`` is accepted and ignored), so a ``ResNet``
    built from it is a *plain* network of the same depth and width: the control for skip connections.
    """

    registry_name = "plain"

    def __init__(self, in_channels, out_channels, stride=1, downsample=None):
        super().__init__(in_channels, out_channels, stride, downsample=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x))


BLOCKS: dict[str, type[nn.Module]] = {"basic": ResidualBlock, "plain": PlainBlock}
SHORTCUTS = ("projection", "zero_pad")  # ResNet(shortcut=...): how a block that changes the shape skips


class ResNet(CourseModel):
    """ResNet for 32x32 images (He et al. 2015, section 4.2): stem 16 channels, three stages of
    ``layers[i]`` blocks with 16, 32 and 64 channels (stages 2 and 3 halve the size), global average
    pooling, linear classifier. ``ResNet("basic", [2, 2, 2])`` ("ResNet-14", also spelt
    ``ResNet(ResidualBlock, [2, 2, 2])``) has 195,738 parameters; ``ResNet("plain", ...)`` is the
    same network without skip connections.

    ``shortcut``: the skip path of the two blocks that change the shape. ``"projection"`` (the
    default, ResNet-14's): a 3x3 convolution with stride 2 and a batch-norm, 2 layers with weights
    more (the paper's option B projects with 1x1 convolutions). ``"zero_pad"``: the paper's CIFAR-10
    option A, :class:`ZeroPadShortcut`, no parameters: then ``ResNet("basic", ..., shortcut="zero_pad")``
    and ``ResNet("plain", ...)`` have exactly the same parameters, and differ only by ``+ x``.
    The depth in the name counts the layers with weights on the main path: 6 * blocks per stage + 2
    (the stem, the block convolutions, the classifier); projection convolutions are off it.

    Input (N, C, H, W), e.g. (N, 3, 32, 32) -> log-probabilities (N, num_classes).
    """

    def __init__(
        self,
        block: str | type[nn.Module] = "basic",
        layers=(2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
        shortcut: str = "projection",
    ):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {list(SHORTCUTS)}, got {shortcut!r}.")
        self.shortcut_kind = shortcut  # "projection" or "zero_pad"
        if isinstance(block, str):
            if block not in BLOCKS:
                raise ValueError(f"block must be one of {sorted(BLOCKS)} (or a block class), got {block!r}.")
            block = BLOCKS[block]
        if len(layers) != 3 or not all(isinstance(n, int) and n > 0 for n in layers):
            raise ValueError(
                "ResNet has three stages: layers needs 3 positive block counts, e.g. [2, 2, 2], "
                f"got {layers}."
            )
        self.in_channels = 16
        self.conv = conv3x3(in_channels, 16)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, 16, layers[0])
        self.layer2 = self._make_layer(block, 32, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 64, layers[2], stride=2)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def _make_layer(self, block, out_channels: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if (stride != 1 or self.in_channels != out_channels) and self.shortcut_kind == "zero_pad":
            downsample = ZeroPadShortcut(self.in_channels, out_channels, stride)
        elif stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(
                conv3x3(self.in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
            )
        stage = [block(self.in_channels, out_channels, stride, downsample)]
        self.in_channels = out_channels
        stage += [block(out_channels, out_channels) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def _canonical_args(self, args: dict) -> dict:
        """The default shortcut is left out, so that checkpoints saved before ``shortcut`` existed
        (the packaged ResNet-14) and new ResNets with projections record the same ``model_args``."""
        return {k: v for k, v in args.items() if not (k == "shortcut" and v == "projection")}

    def reset_classifier(self, num_classes: int) -> None:
        """A new, randomly initialised classifier for ``num_classes`` (transfer learning to new classes);
        ``model_args`` follow, so a checkpoint rebuilds the new network."""
        if not (isinstance(num_classes, int) and num_classes > 0):
            raise ValueError(f"num_classes must be a positive whole number, got {num_classes!r}.")
        old = self.fc.weight
        self.fc = nn.Linear(self.fc.in_features, num_classes, device=old.device, dtype=old.dtype)
        self.model_args = self.model_args | {"num_classes": num_classes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn(self.conv(x)))  # (N, 16, 32, 32)
        out = self.layer3(self.layer2(self.layer1(out)))  # (N, 64, 8, 8)
        out = torch.flatten(self.avg_pool(out), 1)  # (N, 64)
        return F.log_softmax(self.fc(out), dim=1)


def _conv_bn(
    in_channels: int, out_channels: int, pool: bool = False, pool_first: bool = False
) -> nn.Sequential:
    """conv3x3 -> batch-norm -> ReLU (-> max-pool 2): ResNet9's unit.

    ``pool_first`` moves the max-pool straight after the convolution (conv -> pool -> batch-norm ->
    ReLU), so that batch-norm and ReLU touch a quarter of the pixels. Max-pool commutes with ReLU
    and with a batch-norm whose scale is positive, so the function barely changes; the memory
    traffic, which dominates these layers on a GPU, drops.
    """
    layers = [conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    if pool:
        layers.insert(1 if pool_first else 3, nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    """``x + f(x)``."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(x)


class ResNet9(CourseModel):
    """The DAWNBench CIFAR-10 network (Page, "How to train your ResNet").

    prep 64 -> layer1 128 (pool) + residual -> layer2 256 (pool) -> layer3 512 (pool) + residual ->
    global max-pool -> linear -> ``* scale``. The small output scale (0.125) keeps early logits
    small, which trains better with a high learning rate. (N, 3, 32, 32) -> log-probabilities.
    ``pool_first``: pool before batch-norm and ReLU in the three pooling units (see :func:`_conv_bn`),
    as in Page's final network; same parameters, less memory traffic.
    """

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, scale: float = 0.125, pool_first: bool = False
    ):
        super().__init__()
        self.scale = scale
        self.prep = _conv_bn(in_channels, 64)  # (N, 64, 32, 32)
        self.layer1 = nn.Sequential(
            _conv_bn(64, 128, pool=True, pool_first=pool_first),
            _Residual(nn.Sequential(_conv_bn(128, 128), _conv_bn(128, 128))),
        )
        self.layer2 = _conv_bn(128, 256, pool=True, pool_first=pool_first)  # (N, 256, 8, 8)
        self.layer3 = nn.Sequential(
            _conv_bn(256, 512, pool=True, pool_first=pool_first),
            _Residual(nn.Sequential(_conv_bn(512, 512), _conv_bn(512, 512))),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(512, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer3(self.layer2(self.layer1(self.prep(x))))  # (N, 512, 4, 4)
        out = torch.flatten(self.pool(out), 1)
        return F.log_softmax(self.fc(out) * self.scale, dim=1)
