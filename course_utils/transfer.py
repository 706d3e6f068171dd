"""Transfer learning: start from a network trained on other data (lesson 07).

The steps, each a small function:

- :func:`resize_images`: the images at the size the pretrained network knows (uint8 kept);
- ``model.reset_classifier(num_classes)`` (on :class:`~course_utils.ResNet`): a new head for the new classes;
- :class:`FrozenBackbone`: *feature extraction*, every layer but the head frozen, batch-norm statistics
  included (the backbone stays in eval mode while the head trains);
- :func:`param_groups`: *fine-tuning* with a smaller learning rate for the backbone than for the head;
- :func:`train_breed_classifier`: lesson 07's runs (and the classifiers lesson 08 explains), from
  :data:`BREEDS_RECIPE`;
- :func:`imagenet_resnet18`: torchvision's ImageNet ResNet-18 through its weights API, where a network is
  available; offline it says so and returns None, and the caller falls back on the course's checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import Dataset, Split
from .loaders import Augment
from .models import ResNet
from .pretrained import load_pretrained
from .recipes import make_optimizer, one_cycle
from .runtime import Runtime
from .train.loop import TrainResult, train_val_model

__all__ = [
    "BREEDS_RECIPE",
    "SETTINGS",
    "FrozenBackbone",
    "imagenet_resnet18",
    "param_groups",
    "resize_images",
    "train_breed_classifier",
]

SETTINGS = ("scratch", "frozen", "finetune", "finetune_aug")

# Lesson 07's recipe, chosen on validation accuracy (benchmarks/results/cpu_transfer_pets_*.log):
# ResNet-14 on the three Pet breeds at 48x48, batches of 32, Nesterov SGD with OneCycle.
BREEDS_RECIPE = dict(
    size=48,  # the CIFAR-10 network saw 32x32 objects; 48 kept more detail at the same cost per epoch
    batch_size=32,
    weight_decay=5e-4,
    head_lr={"scratch": 0.2, "frozen": 0.1, "finetune": 0.1, "finetune_aug": 0.1},  # peak, OneCycle
    backbone_factor=0.1,  # fine-tuning: the backbone learns at a tenth of the head's rate
    augment=Augment(crop_padding=6, flip=True, color=0.1),  # finetune_aug only
)


def resize_images(dataset: Dataset, size: int) -> Dataset:
    """``dataset`` with every image resized to ``size`` x ``size`` (bilinear with antialiasing, uint8 kept).

    For classification datasets (labels, not masks): masks would need nearest-neighbour resizing.
    """
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"size must be a positive whole number of pixels, e.g. 48, got {size!r}.")
    if dataset.train.y.dim() != 1:
        raise ValueError(
            f"resize_images resizes images of a classification dataset, but {dataset.name} has masks "
            f"{tuple(dataset.train.y.shape)}: resize masks with nearest-neighbour interpolation instead."
        )

    def resized(split: Split) -> Split:
        x = F.interpolate(
            split.x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        return Split(x.round().clamp(0, 255).to(torch.uint8), split.y, split.info)

    splits = {name: resized(split) for name, split in dataset.splits().items()}
    return dataclasses.replace(dataset, name=f"{dataset.name}-{size}", **splits)


class FrozenBackbone(nn.Module):
    """Feature extraction: every parameter of ``model`` but its ``head`` frozen, and every layer but the
    head kept in eval mode even while the wrapper trains, so batch-norm keeps its pretrained statistics."""

    def __init__(self, model: nn.Module, head: str = "fc"):
        super().__init__()
        if not isinstance(getattr(model, head, None), nn.Module):
            raise ValueError(
                f"FrozenBackbone: the model has no layer {head!r} to train; name its head, e.g. 'fc'."
            )
        self.model, self.head = model, head
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(f"{head}."))

    def train(self, mode: bool = True):
        super().train(mode)
        for name, child in self.model.named_children():
            if name != self.head:
                child.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def param_groups(model: nn.Module, head_lr: float, backbone_lr: float, head: str = "fc") -> list[dict]:
    """Optimizer parameter groups: the head's trainable parameters at ``head_lr``, the others at
    ``backbone_lr`` (a group is left out when it has nothing to train)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    in_head = [p for n, p in named if f".{head}." in f".{n}"]
    backbone = [p for n, p in named if f".{head}." not in f".{n}"]
    if not in_head:
        raise ValueError(
            f"param_groups: no trainable parameter in a layer named {head!r}; name the model's head."
        )
    groups = [{"params": in_head, "lr": head_lr}]
    return groups + ([{"params": backbone, "lr": backbone_lr}] if backbone else [])


def _breed_model(setting: str, num_classes: int) -> nn.Module:
    """ResNet-14 with a new head: random everywhere (scratch) or on the packaged CIFAR-10 checkpoint."""
    if setting == "scratch":
        return ResNet("basic", [2, 2, 2], num_classes=num_classes)
    model, _ = load_pretrained("resnet14_cifar10")
    model.reset_classifier(num_classes)
    return FrozenBackbone(model) if setting == "frozen" else model


def train_breed_classifier(
    setting: str, data: Dataset, runtime: Runtime, epochs: int, seed: int = 0, progress: bool = False
) -> TrainResult:
    """One of lesson 07's runs: ``setting`` in :data:`SETTINGS`, on ``data`` (breeds, already resized and
    normalised as the pretrained network expects), with :data:`BREEDS_RECIPE`. The best validation
    epoch is kept; the returned model is the plain network (the frozen one unwrapped)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}.")
    r = BREEDS_RECIPE
    torch.manual_seed(seed)  # the new head's (or the whole scratch network's) initial weights
    model = runtime.model(_breed_model(setting, data.num_classes))
    augment = r["augment"] if setting == "finetune_aug" else None
    loaders = runtime.loaders(data, r["batch_size"], eval_batch_size=500, augment=augment, seed=seed)
    head_lr = r["head_lr"][setting]
    backbone_lr = head_lr * (1.0 if setting == "scratch" else r["backbone_factor"])
    groups = param_groups(model, head_lr, backbone_lr)
    optimizer = make_optimizer("nesterov", groups, lr=head_lr, weight_decay=r["weight_decay"])
    scheduler = one_cycle(optimizer, [g["lr"] for g in groups], epochs, len(loaders["train"]))
    result = train_val_model(
        model, nn.CrossEntropyLoss(), optimizer, loaders, epochs, scheduler, log_interval=0, step="batch",
        amp=runtime.amp, progress=progress,
    )  # fmt: skip
    plain = result[0].model if isinstance(result[0], FrozenBackbone) else result[0]
    return TrainResult(plain, result.history)


def imagenet_resnet18(num_classes: int) -> nn.Module | None:
    """torchvision's ResNet-18 with its ImageNet weights (``ResNet18_Weights.IMAGENET1K_V1``, downloaded
    once into torch's cache) and a new ``num_classes`` head; None, with a message, when the weights
    cannot be fetched (no network), so that the caller can fall back on the course's checkpoint."""
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1
    hub_messages = io.StringIO()  # torch.hub prints the cache path it downloads to: a machine path
    try:
        with contextlib.redirect_stdout(hub_messages), contextlib.redirect_stderr(hub_messages):
            model = resnet18(weights=weights)
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError; torch.hub raises the others
        print(
            f"The ImageNet weights could not be loaded ({type(err).__name__}). Without a network they cannot "
            "be downloaded; the lesson falls back on the course's CIFAR-10 checkpoint."
        )
        return None
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
