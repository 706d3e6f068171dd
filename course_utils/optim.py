"""The optimizers and per-step learning-rate schedules the course uses, built by name.

Lessons 02-04 call these in the loops they write out; every other run gets them from its recipe
(:meth:`course_utils.recipes.Recipe.make_optimizer`, :meth:`~course_utils.recipes.Recipe.make_scheduler`).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "OPTIMIZERS",
    "check_momentum_and_decay",
    "check_positive",
    "make_optimizer",
    "one_cycle",
    "triangle_schedule",
]

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")


def check_positive(name: str, value, whole: bool = False, fix: str = "") -> None:
    """``value`` is a positive (whole, with ``whole``) finite number; the error names ``name`` and ``fix``."""
    ok = isinstance(value, int) if whole else isinstance(value, int | float) and math.isfinite(value)
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive whole number" if whole else "a positive finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}{'; ' + fix if fix else ''}.")


def check_momentum_and_decay(momentum: float, weight_decay: float) -> None:
    """``momentum`` in [0, 1) and a finite ``weight_decay`` >= 0; the error gives the value and an example."""
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), e.g. 0.9, got {momentum!r}.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, e.g. 5e-4, got {weight_decay!r}.")


def make_optimizer(
    name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """``sgd``, ``nesterov`` (SGD with Nesterov momentum), ``adam`` or ``adamw``.

    ``params`` may be parameters or parameter groups (dicts with their own ``"lr"``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}.")
    check_positive("lr", lr)
    check_momentum_and_decay(momentum, weight_decay)
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=name == "nesterov"
        )
    optimizer = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return optimizer(params, lr=lr, weight_decay=weight_decay)


def one_cycle(
    optimizer, max_lr, epochs: int, steps_per_epoch: int, pct_start: float = 0.25, cycle_momentum: bool = True
):
    """OneCycle, to be stepped every batch (``step="batch"``): warm up to ``max_lr`` for
    ``pct_start`` of training, then anneal to ~0. ``max_lr`` may be a list, one per parameter group.
    (A schedule of at least 10 steps is built, so that tiny smoke runs stay valid.)

    With ``cycle_momentum=True`` (PyTorch's default, and every packaged recipe's) the schedule also
    cycles SGD's momentum, or Adam's beta1, the other way: 0.95 down to 0.85 while the rate warms up,
    back to 0.95 while it anneals, overriding the value the optimizer was built with. Pass
    ``cycle_momentum=False`` to keep the optimizer's own momentum (a comparison that names a momentum
    should).
    """
    check_positive("epochs", epochs, whole=True)
    check_positive("steps_per_epoch", steps_per_epoch, whole=True)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=max(epochs * steps_per_epoch, 10),
        pct_start=pct_start,
        cycle_momentum=cycle_momentum,
    )


def triangle_schedule(optimizer, peak, total_steps: int, warmup: float):
    """Linear warm-up to ``peak`` over ``warmup`` of the steps, then linear decay to 0; a per-step
    ``LambdaLR``, so it is stepped every batch (``step="batch"``). ``peak`` may be a list, one per
    parameter group."""
    check_positive("total_steps", total_steps, whole=True)
    up = max(1, int(total_steps * warmup))
    peaks = list(peak) if isinstance(peak, list | tuple) else [peak] * len(optimizer.param_groups)
    if len(peaks) != len(optimizer.param_groups):
        raise ValueError(f"peak: {len(peaks)} values for {len(optimizer.param_groups)} parameter groups.")

    def factor(step: int) -> float:
        return step / up if step < up else max(0.0, (total_steps - step) / max(1, total_steps - up))

    for group, top in zip(optimizer.param_groups, peaks, strict=True):
        group["lr"] = top
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
