"""The blocks that backbones after ResNet are built from (lesson 09), one small module each.

Every block maps ``(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)``. Their cost, for an output
of ``H x W`` pixels (multiply-adds per image, ``k`` the kernel size; :func:`~.summary.count_macs`
counts them from the module):

==========================  ===============================================  ======================
block                       multiply-adds per image                          paper
==========================  ===============================================  ======================
dense ``k x k`` convolution ``H W C_in C_out k^2``                           (LeNet, VGG, ResNet)
:class:`Bottleneck`         ``H W (C_in m + m^2 k^2 / g + m C_out)``, m the  He et al. 2015 (g = 1);
                            middle width, g groups                           ResNeXt (g > 1)
:class:`DepthwiseSeparable` ``H W (C_in k^2 + C_in C_out)``                  MobileNet (2017)
:class:`InvertedResidual`   ``H W (C_in t C_in + t C_in k^2 + t C_in C_out)``  MobileNetV2 (2018);
                            (t the expansion; the first term only if t > 1)  with SE: EfficientNet
:class:`SqueezeExcite`      ``2 C s`` (s squeeze channels), for any H, W     SENet (2018)
:class:`ConvNeXtBlock`      ``H W (C k^2 + 2 e C^2)`` (e the expansion)      ConvNeXt (2022)
==========================  ===============================================  ======================

(Here ``H x W`` is the block's output size; for a strided block the first 1x1 convolution (the
bottleneck's reducing one, the inverted residual's expanding one) runs at the input size, ``stride^2``
times as many pixels; a bottleneck whose shape changes adds its projection shortcut's ``H W C_in C_out``.)
Batch-norm, activations and additions are not counted: they are cheap in multiply-adds, not always in
time (lesson 09 measures both).
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = [
    "Bottleneck",
    "ConvNeXtBlock",
    "DepthwiseSeparable",
    "InvertedResidual",
    "LayerNorm2d",
    "SqueezeExcite",
    "conv_bn",
    "projection",
]


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Convolution (no bias, padding ``kernel_size // 2``), batch-norm, then ``activation`` (a class,
    e.g. ``nn.ReLU6``; None: none, a *linear* output). ``groups=in_channels=out_channels`` makes it
    depthwise: each channel filtered on its own."""
    padding = kernel_size // 2
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)
    layers = [conv, nn.BatchNorm2d(out_channels)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def projection(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential | None:
    """The shortcut of a residual block that changes the shape: a 1x1 convolution with ``stride`` and a
    batch-norm (ResNet's option B); None where the shape stays, so that the shortcut is the identity."""
    if stride == 1 and in_channels == out_channels:
        return None
    return conv_bn(in_channels, out_channels, 1, stride, activation=None)


class Bottleneck(nn.Module):
    """``relu(branch(x) + shortcut(x))`` with a 1x1 -> 3x3 -> 1x1 branch (He et al. 2015, ResNet-50).

    The 1x1 convolutions squeeze ``in_channels`` to ``width`` (default ``out_channels // 4``) and
    expand back, so the 3x3 convolution runs on few channels. ``groups > 1`` splits that 3x3 into
    groups, as ResNeXt does (``width`` must divide by ``groups``). The shortcut is the identity, or a
    1x1 projection with batch-norm where the shape changes.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, width: int | None = None
    ):
        super().__init__()
        width = width or out_channels // 4
        if width % groups:
            raise ValueError(
                f"Bottleneck: width ({width}) must be a multiple of groups ({groups}); "
                "choose width=groups x channels per group."
            )
        self.branch = nn.Sequential(
            conv_bn(in_channels, width, 1),
            conv_bn(width, width, 3, stride, groups=groups),
            conv_bn(width, out_channels, 1, activation=None),
        )
        shortcut = projection(in_channels, out_channels, stride)
        self.shortcut = nn.Identity() if shortcut is None else shortcut
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class DepthwiseSeparable(nn.Module):
    """A dense ``k x k`` convolution split in two (Howard et al. 2017, MobileNet): a depthwise ``k x k``
    convolution filters each channel on its own, then a pointwise 1x1 convolution mixes channels;
    batch-norm and ReLU after each. No shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3):
        super().__init__()
        self.depthwise = conv_bn(in_channels, in_channels, kernel_size, stride, groups=in_channels)
        self.pointwise = conv_bn(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): average each channel over the image ("squeeze"), pass the
    ``channels`` numbers through a two-layer bottleneck of ``squeeze_channels`` ("excite") and a
    sigmoid, and multiply each channel of ``x`` by its result. Shape unchanged: (N, C, H, W)."""

    def __init__(self, channels: int, squeeze_channels: int, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = activation()
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.expand(self.activation(self.reduce(self.pool(x)))))
        return x * scale


class InvertedResidual(nn.Module):
    """MobileNetV2's block (Sandler et al. 2018): a 1x1 convolution *expands* ``in_channels`` by
    ``expand``, a depthwise ``k x k`` convolution filters the wide tensor, and a 1x1 convolution
    *projects* it back with no activation (the linear bottleneck, where information would be lost to a
    ReLU); the shortcut joins the two narrow ends, when ``stride == 1`` and the channels match.

    ``se_ratio > 0`` adds :class:`SqueezeExcite` after the depthwise convolution, with
    ``int(in_channels * se_ratio)`` squeeze channels (at least 1): with ``activation=nn.SiLU``,
    ``kernel_size=5`` or 3 and ``se_ratio=0.25`` this is EfficientNet's MBConv (Tan and Le 2019).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand: float = 6,
        kernel_size: int = 3,
        activation: type[nn.Module] = nn.ReLU6,
        se_ratio: float = 0.0,
    ):
        super().__init__()
        hidden = int(round(in_channels * expand))
        layers = [] if hidden == in_channels else [conv_bn(in_channels, hidden, 1, activation=activation)]
        layers.append(conv_bn(hidden, hidden, kernel_size, stride, groups=hidden, activation=activation))
        if se_ratio > 0:
            layers.append(SqueezeExcite(hidden, max(1, int(in_channels * se_ratio)), activation))
        layers.append(conv_bn(hidden, out_channels, 1, activation=None))  # linear: no activation
        self.branch = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x) if self.residual else self.branch(x)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor, at every pixel (ConvNeXt's norm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block (Liu et al. 2022): ``x + gamma * mlp(norm(dwconv(x)))``.

    A depthwise ``kernel_size x kernel_size`` (7) convolution mixes space; one LayerNorm; an inverted
    bottleneck mixes channels (1x1 up by ``expand``, GELU, 1x1 down, as ``nn.Linear`` on each pixel);
    *layer scale* ``gamma``, one number per channel starting at ``layer_scale``, lets each block start
    close to the identity. Channels and size unchanged: (N, C, H, W); the stages change them between
    blocks (:class:`LayerNorm2d` and a 2x2 convolution of stride 2).
    """

    def __init__(self, channels: int, kernel_size: int = 7, expand: int = 4, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.up = nn.Linear(channels, expand * channels)
        self.activation = nn.GELU()
        self.down = nn.Linear(expand * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C): the norm and the MLP act on each pixel
        y = self.down(self.activation(self.up(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)
