"""The course's models and a registry to build them by name (used by checkpoints and the CLI)."""

from __future__ import annotations

import torch.nn as nn

from .classic import LeNet5, MiniVGGNet, conv_output_size
from .resnet import Residual, ResidualBlock, ResNet, ResNet9, conv3x3
from .summary import count_parameters, summary
from .unet import UNet

MODELS: dict[str, type[nn.Module]] = {
    "lenet5": LeNet5,
    "minivgg": MiniVGGNet,
    "resnet": ResNet,
    "resnet9": ResNet9,
    "unet": UNet,
}


class FlipTTA(nn.Module):
    """Test-time augmentation: average the outputs for an image and its left-right mirror.

    For segmentation (``dense=True``) the mirrored prediction is flipped back before averaging.
    """

    def __init__(self, model: nn.Module, dense: bool = False):
        super().__init__()
        self.model, self.dense = model, dense

    def forward(self, x):
        mirrored = self.model(x.flip(-1))
        return (self.model(x) + (mirrored.flip(-1) if self.dense else mirrored)) / 2


def build_model(arch: str, **kwargs) -> nn.Module:
    """Build a registered model by name and remember how (``model.arch``, ``model.arch_kwargs``),
    so that a checkpoint can rebuild it. Example: ``build_model("resnet", layers=[2, 2, 2])``.
    """
    if arch not in MODELS:
        raise ValueError(f"Unknown model {arch!r}; expected one of {sorted(MODELS)}.")
    model = MODELS[arch](**kwargs)
    model.arch, model.arch_kwargs = arch, dict(kwargs)
    return model


__all__ = [
    "MODELS",
    "LeNet5",
    "MiniVGGNet",
    "ResNet",
    "ResNet9",
    "Residual",
    "ResidualBlock",
    "UNet",
    "build_model",
    "conv3x3",
    "conv_output_size",
    "count_parameters",
    "summary",
]
