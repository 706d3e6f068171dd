"""Training recipes shared by the notebooks, the command line and the benchmarks, each stated once.

A :class:`Recipe` holds the model, the data and every hyper-parameter in one visible place:

- :data:`RESNET14` (notebook 05, ``python -m course_utils.train --recipe resnet14``): the
  checkpoint that ships with the package;
- :data:`UNET` (notebook 06, ``--recipe unet``): pet segmentation;
- :data:`RESNET9` (notebook 05 in the ``full`` profile, ``benchmarks/gpu_resnet9.py``): Page's
  DAWNBench recipe to 94 % on CIFAR-10.

The helpers build what a recipe names: :func:`make_optimizer`, :func:`make_scheduler`,
:meth:`Recipe.criterion`, :meth:`Recipe.metric`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn as nn

from ._memory import release_memory
from .config import seed_everything
from .data import Dataset
from .loaders import Augment, TensorLoader
from .losses import BCEDiceLoss
from .metrics import Accuracy, BinaryIoU
from .models import MODELS, FlipTTA, ResNet9
from .train.loop import evaluate, run_epoch

__all__ = [
    "RECIPES",
    "RESNET14",
    "RESNET9",
    "UNET",
    "Recipe",
    "make_optimizer",
    "make_scheduler",
    "one_cycle",
    "train_resnet9",
    "triangle_schedule",
    "tta_accuracy",
]

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")
SCHEDULES = ("none", "onecycle", "triangle")
DATA = ("mnist", "cifar10", "pets")
LOSSES = ("cross_entropy", "bce_dice")
METRICS = ("acc", "iou")


def _check_choice(name: str, value, choices) -> None:
    """``value`` is one of ``choices``; the error names the field, the value and the choices."""
    if value not in choices:
        raise ValueError(f"Recipe {name}={value!r} is not one of the choices: {', '.join(choices)}.")


def _check_positive(name: str, value, whole: bool = False, fix: str = "") -> None:
    ok = isinstance(value, int) if whole else isinstance(value, int | float) and math.isfinite(value)
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive whole number" if whole else "a positive finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}{'; ' + fix if fix else ''}.")


def make_optimizer(
    name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """``sgd``, ``nesterov`` (SGD with Nesterov momentum), ``adam`` or ``adamw``.

    ``params`` may be parameters or parameter groups (dicts with their own ``"lr"``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}.")
    _check_positive("lr", lr)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), e.g. 0.9, got {momentum!r}.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, e.g. 5e-4, got {weight_decay!r}.")
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=name == "nesterov"
        )
    optimizer = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return optimizer(params, lr=lr, weight_decay=weight_decay)


def one_cycle(optimizer, max_lr, epochs: int, steps_per_epoch: int, pct_start: float = 0.25):
    """OneCycle, to be stepped every batch (``step="batch"``): warm up to ``max_lr`` for
    ``pct_start`` of training, then anneal to ~0. ``max_lr`` may be a list, one per parameter group.
    (A schedule of at least 10 steps is built, so that tiny smoke runs stay valid.)"""
    _check_positive("epochs", epochs, whole=True)
    _check_positive("steps_per_epoch", steps_per_epoch, whole=True)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=max(epochs * steps_per_epoch, 10), pct_start=pct_start
    )


def triangle_schedule(optimizer, peak: float, total_steps: int, warmup: float):
    """Linear warm-up to ``peak`` over ``warmup`` of the steps, then linear decay to 0; a per-step
    ``LambdaLR``, so it is stepped every batch (``step="batch"``)."""
    _check_positive("total_steps", total_steps, whole=True)
    up = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        return step / up if step < up else max(0.0, (total_steps - step) / max(1, total_steps - up))

    for group in optimizer.param_groups:
        group["lr"] = peak
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class Recipe:
    """A training recipe: model, data and hyper-parameters, stated once (see the module doc)."""

    model: str  # a name in course_utils.models.MODELS
    model_args: dict  # constructor arguments beyond what the data decides (classes, channels)
    data: str  # "mnist", "cifar10" or "pets" (binary pet masks, border ignored)
    epochs: int
    batch_size: int
    optimizer: str  # sgd, nesterov, adam, adamw
    lr: float  # the peak learning rate with a schedule
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"  # "none", "onecycle" or "triangle", stepped every batch
    warmup: float = 0.25  # share of the steps spent warming up (onecycle, triangle)
    label_smoothing: float = 0.0
    augment: Augment | None = None
    loss: str = "cross_entropy"  # or "bce_dice" (segmentation)
    metric_name: str = "acc"  # or "iou"
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        """Every field with a fixed set of values is checked here, when the recipe is made: an unknown
        loss or metric would otherwise train cross-entropy or measure accuracy without a word."""
        _check_positive("epochs", self.epochs, whole=True)
        _check_positive("batch_size", self.batch_size, whole=True)
        _check_choice("model", self.model, sorted(MODELS))
        _check_choice("data", self.data, DATA)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("metric_name", self.metric_name, METRICS)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")

    def criterion(self) -> nn.Module:
        """The loss. The classifiers return log-probabilities, which ``CrossEntropyLoss`` accepts
        (``log_softmax`` leaves them unchanged), so label smoothing works with them."""
        if self.loss == "bce_dice":
            return BCEDiceLoss()
        return nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def metric(self):
        return BinaryIoU() if self.metric_name == "iou" else Accuracy()

    def replace(self, **changes) -> Recipe:
        """A copy with some values changed, e.g. ``RESNET14.replace(epochs=2)``."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain data (for a checkpoint's metadata or a JSON report)."""
        values = asdict(self)
        values["augment"] = asdict(self.augment) if self.augment else None
        return values


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int, epochs: int | None = None):
    """The recipe's per-batch schedule (or None), for ``epochs`` (default: the recipe's)."""
    epochs = epochs or recipe.epochs
    if recipe.schedule == "onecycle":
        return one_cycle(optimizer, recipe.lr, epochs, steps_per_epoch, recipe.warmup)
    if recipe.schedule == "triangle":
        return triangle_schedule(optimizer, recipe.lr, epochs * steps_per_epoch, recipe.warmup)
    return None


# ResNet-14 on CIFAR-10 (notebook 05): the recipe of the checkpoint in course_utils/checkpoints/.
RESNET14 = Recipe(
    model="resnet",
    model_args={"block": "basic", "layers": [2, 2, 2]},
    data="cifar10",
    epochs=40,
    batch_size=256,
    optimizer="nesterov",
    lr=0.2,
    weight_decay=5e-4,
    schedule="onecycle",
    label_smoothing=0.1,
    augment=Augment(crop_padding=4, flip=True),
)

# U-Net on the Pets masks (notebook 06): chosen on validation IoU (benchmarks/RESULTS.md).
UNET = Recipe(
    model="unet",
    model_args={"base_channels": 16, "batch_norm": True},
    data="pets",
    epochs=90,
    batch_size=16,
    optimizer="adamw",
    lr=1e-3,
    weight_decay=1e-4,
    schedule="onecycle",
    augment=Augment(crop_padding=8, flip=True, rotate=10),
    loss="bce_dice",
    metric_name="iou",
)

# ResNet9 on CIFAR-10 after Page's DAWNBench recipe ("How to train your ResNet").
RESNET9 = Recipe(
    model="resnet9",
    model_args={},
    data="cifar10",
    epochs=24,
    batch_size=512,
    optimizer="nesterov",
    lr=0.4,
    weight_decay=5e-4,
    schedule="triangle",
    label_smoothing=0.2,
    augment=Augment(crop_padding=4, flip=True, cutout=8),
)

RECIPES = {"resnet14": RESNET14, "unet": UNET, "resnet9": RESNET9}


def tta_accuracy(model: nn.Module, loader, amp: bool = False) -> float:
    """Accuracy when each image's prediction averages the image and its mirror (flip TTA)."""
    return evaluate(FlipTTA(model, dense=False), loader, amp=amp)["acc"]


def train_resnet9(
    data: Dataset,
    device: torch.device,
    epochs: int | None = None,
    batch_size: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
    amp: bool = False,
    channels_last: bool = True,
    compile_model: bool | str = False,
    pool_first: bool = False,
    max_batches: int | None = None,
) -> tuple[nn.Module, float]:
    """Train ResNet9 with :data:`RESNET9` (overrides as arguments); return (model, seconds).

    No validation pass: the recipe is fixed in advance, so nothing is selected and the time counted
    is training alone. ``compile_model``: True for ``torch.compile``, or one of its mode names (e.g.
    ``"reduce-overhead"``). ``pool_first``: the :class:`ResNet9` layout that pools before batch-norm.
    """
    r = RESNET9.replace(epochs=epochs or RESNET9.epochs, batch_size=batch_size or RESNET9.batch_size)
    seed_everything(seed)
    loader = TensorLoader(
        data.train.head(max_train),
        r.batch_size,
        data.mean,
        data.std,
        shuffle=True,
        augment=r.augment,
        drop_last=True,
        device=device,
        seed=seed,
        channels_last=channels_last,
        max_batches=max_batches,
    )
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = ResNet9(pool_first=pool_first).to(device, memory_format=layout)
    step_model = model
    if compile_model:
        step_model = torch.compile(model, mode=compile_model if isinstance(compile_model, str) else None)
    optimizer = make_optimizer(r.optimizer, model.parameters(), r.lr, r.momentum, r.weight_decay)
    scheduler = make_scheduler(r, optimizer, len(loader))
    criterion = r.criterion()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tic = time.perf_counter()
    for epoch in range(r.epochs):
        run_epoch(step_model, loader, criterion, (), optimizer, scheduler, amp=amp, desc=f"epoch {epoch}")
    sync()
    seconds = time.perf_counter() - tic
    release_memory()
    return model, seconds
