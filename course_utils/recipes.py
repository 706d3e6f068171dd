"""Training recipes shared by notebooks and benchmarks, with their hyper-parameters in one place."""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from .config import seed_everything
from .data import Dataset
from .loaders import Augment, TensorLoader
from .models import FlipTTA, ResNet9
from .train.loop import evaluate, run_epoch


def make_optimizer(
    name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """``sgd``, ``nesterov`` (SGD with Nesterov momentum), ``adam`` or ``adamw``."""
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=name == "nesterov"
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {name!r}: use sgd, nesterov, adam or adamw.")


def one_cycle(optimizer, max_lr: float, epochs: int, steps_per_epoch: int, pct_start: float = 0.25):
    """OneCycle, stepped every batch: warm up to ``max_lr`` for ``pct_start`` of training, then
    anneal to ~0. (A schedule of at least 10 steps is built, so that tiny smoke runs stay valid.)"""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=max(epochs * steps_per_epoch, 10), pct_start=pct_start
    )


# ResNet9 on CIFAR-10 after Page's DAWNBench recipe ("How to train your ResNet").
RESNET9_RECIPE = dict(
    epochs=24,
    batch_size=512,
    lr=0.4,  # peak learning rate, reached after `warmup` of the steps
    warmup=0.25,
    momentum=0.9,  # Nesterov
    weight_decay=5e-4,
    label_smoothing=0.2,
    crop_padding=4,
    cutout=8,
)


def triangle_schedule(optimizer, peak: float, total_steps: int, warmup: float):
    """Linear warm-up to ``peak`` over ``warmup`` of the steps, then linear decay to 0 (per step)."""
    up = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        return step / up if step < up else max(0.0, (total_steps - step) / max(1, total_steps - up))

    for group in optimizer.param_groups:
        group["lr"] = peak
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def tta_accuracy(model: nn.Module, loader, amp: bool = False) -> float:
    """Accuracy when each image's prediction averages the image and its mirror (flip TTA)."""
    return evaluate(FlipTTA(model), loader, amp=amp)["acc"]


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
) -> tuple[nn.Module, float]:
    """Train ResNet9 with :data:`RESNET9_RECIPE` (overrides as arguments); return (model, seconds).

    No validation pass: the recipe is fixed in advance, so nothing is selected and the time counted
    is training alone. ``compile_model``: True for ``torch.compile``, or one of its mode names (e.g.
    ``"reduce-overhead"``, which replays the forward and backward passes as CUDA graphs).
    ``pool_first``: the :class:`ResNet9` layout that pools before batch-norm and ReLU.
    """
    r = RESNET9_RECIPE | {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v is not None}
    seed_everything(seed)
    augment = Augment(crop_padding=r["crop_padding"], flip=True, cutout=r["cutout"])
    loader = TensorLoader(
        data.train.head(max_train),
        r["batch_size"],
        data.mean,
        data.std,
        shuffle=True,
        augment=augment,
        drop_last=True,
        device=device,
        seed=seed,
        channels_last=channels_last,
    )
    model = ResNet9(pool_first=pool_first).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_model:
        mode = compile_model if isinstance(compile_model, str) else None
        step_model = torch.compile(model, mode=mode)
    else:
        step_model = model
    optimizer = torch.optim.SGD(
        model.parameters(), lr=r["lr"], momentum=r["momentum"], nesterov=True, weight_decay=r["weight_decay"]
    )
    scheduler = triangle_schedule(optimizer, r["lr"], r["epochs"] * len(loader), r["warmup"])
    criterion = nn.CrossEntropyLoss(label_smoothing=r["label_smoothing"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tic = time.perf_counter()
    for _ in range(r["epochs"]):
        run_epoch(
            step_model, loader, criterion, optimizer=optimizer, scheduler=scheduler, device=device, amp=amp
        )
    sync()
    return model, time.perf_counter() - tic
