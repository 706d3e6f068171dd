"""U-Net (Ronneberger et al. 2015) for segmentation: an encoder, a decoder, and skip connections."""

from __future__ import annotations

import torch
import torch.nn as nn

from .base import CourseModel

__all__ = ["UNet"]


def _double_conv(in_channels: int, out_channels: int, batch_norm: bool = False) -> nn.Sequential:
    """Two 3x3 convolutions (padding 1, size kept), each followed by (batch-norm and) ReLU."""
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(CourseModel):
    """U-Net with 4 down blocks, a bottleneck and 4 up blocks.

    Down block ``i`` has ``base_channels * 2**i`` channels and is followed by max-pooling; each up
    block doubles the size with a 2x2 transposed convolution, concatenates the encoder's output of
    the same size (the skip), and applies a double convolution. A 1x1 convolution gives
    ``out_channels`` logits per pixel.

    Input (N, in_channels, H, W) with H and W multiples of 16 -> logits (N, out_channels, H, W).
    ``UNet(3, 1)`` has 31,031,745 parameters; ``base_channels=16`` has 1,941,105.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        base_channels: int = 64,
        batch_norm: bool = False,
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("base_channels", base_channels),
        ):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"UNet: {name} must be a positive whole number, got {value!r}.")
        widths = [base_channels * 2**i for i in range(5)]  # 64, 128, 256, 512, 1024
        self.down = nn.ModuleList()
        c_in = in_channels
        for width in widths[:4]:
            self.down.append(_double_conv(c_in, width, batch_norm))
            c_in = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(widths[3], widths[4], batch_norm)
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for width in reversed(widths[:4]):
            self.upsample.append(nn.ConvTranspose2d(width * 2, width, kernel_size=2, stride=2))
            self.up.append(_double_conv(width * 2, width, batch_norm))  # skip doubles the input
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(
                f"UNet expects (N, C, H, W) with H and W multiples of 16 (four 2x poolings), got "
                f"{tuple(x.shape)}. Resize or pad the images, e.g. to 128x128."
            )
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)  # (N, 16 * base, H / 16, W / 16)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips), strict=True):
            x = block(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)
