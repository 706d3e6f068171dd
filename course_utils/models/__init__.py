"""The course's models and a registry to build them by name (used by checkpoints and the CLI).

Each model is a :class:`~course_utils.models.base.CourseModel`: it records its constructor
arguments as ``model.model_args``, so a checkpoint can rebuild it.
"""

from __future__ import annotations

import torch.nn as nn

from . import blocks
from .base import CourseModel
from .blocknet import FAMILIES, BlockNet, widths_for_macs
from .classic import LeNet5, MiniVGGNet, conv_output_size
from .resnet import BLOCKS, PlainBlock, ResidualBlock, ResNet, ResNet9, conv3x3
from .summary import (
    count_macs,
    count_parameters,
    forward_time,
    gradient_norms,
    measure_cost,
    measure_costs,
    summary,
)
from .unet import UNet

MODELS: dict[str, type[CourseModel]] = {
    "blocknet": BlockNet,
    "lenet5": LeNet5,
    "minivgg": MiniVGGNet,
    "resnet": ResNet,
    "resnet9": ResNet9,
    "unet": UNet,
}


def model_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class (e.g. ``"unet"``); ValueError for an unregistered one."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"{type(model).__name__} is not a registered course model ({sorted(MODELS)}). Add it to "
        "course_utils.models.MODELS (and derive it from CourseModel) so that checkpoints can rebuild it."
    )


def build_model(arch: str, **model_args) -> CourseModel:
    """Build a registered model by name, e.g. ``build_model("resnet", layers=[2, 2, 2])``."""
    if arch not in MODELS:
        raise ValueError(f"Unknown model {arch!r}; expected one of {sorted(MODELS)}.")
    return MODELS[arch](**model_args)


class FlipTTA(nn.Module):
    """Test-time augmentation: average the outputs for an image and its left-right mirror.

    ``dense=False`` (classification, outputs (N, classes)): the two outputs are averaged as they are.
    ``dense=True`` (segmentation, outputs (N, C, H, W)): the mirrored prediction is flipped back
    first, so that pixels line up. The caller states which.
    """

    def __init__(self, model: nn.Module, dense: bool):
        super().__init__()
        self.model, self.dense = model, dense

    def forward(self, x):
        mirrored = self.model(x.flip(-1))
        return (self.model(x) + (mirrored.flip(-1) if self.dense else mirrored)) / 2


class Ensemble(nn.Module):
    """Average the outputs of several models trained for the same task, e.g. with different seeds:
    ``x`` in, the mean of the members' outputs out (logits, as :class:`FlipTTA` averages them).
    One member runs at a time, so memory grows with one model's activations, not with their number.
    Wrap it in :class:`FlipTTA` to average over mirrors as well.
    """

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if len(models) < 2 or not all(isinstance(m, nn.Module) for m in models):
            raise ValueError(
                f"Ensemble needs a list of at least two nn.Module members, got {len(models)} item(s) "
                f"({', '.join(type(m).__name__ for m in models) or 'none'}); pass e.g. [model_a, model_b]."
            )
        self.members = nn.ModuleList(models)

    def forward(self, x):
        total = self.members[0](x)
        for member in self.members[1:]:
            total = total + member(x)
        return total / len(self.members)


__all__ = [
    "BLOCKS",
    "FAMILIES",
    "BlockNet",
    "MODELS",
    "CourseModel",
    "Ensemble",
    "FlipTTA",
    "LeNet5",
    "MiniVGGNet",
    "PlainBlock",
    "ResNet",
    "ResNet9",
    "ResidualBlock",
    "UNet",
    "blocks",
    "build_model",
    "conv3x3",
    "conv_output_size",
    "count_macs",
    "count_parameters",
    "forward_time",
    "gradient_norms",
    "measure_cost",
    "measure_costs",
    "model_name",
    "summary",
    "widths_for_macs",
]
