"""One training loop for every lesson: train, validate, keep the best weights, evaluate once.

``train_val_model`` keeps the seed's call shape and return value ``(model, losses, accuracies)``.
What it adds: model selection on the **validation** split (the seed used the test set), progress
bars, per-batch schedulers (OneCycle), optional bf16 autocast, a clean stop on Ctrl-C or the
notebook's stop button, and a clear error when the loss becomes NaN.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..config import get_profile
from ..metrics import Accuracy

PER_BATCH_SCHEDULERS = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)
PROGRESS_ENV = "COURSE_PROGRESS"


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the model holds the best weights seen before that."""


@dataclass
class History:
    """What happened during training. Lists hold one plain float per epoch."""

    metric_name: str
    losses: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "val": []})
    metrics: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "val": []})
    epoch_times: list[float] = field(default_factory=list)  # seconds, train + validation
    lrs: list[float] = field(default_factory=list)  # learning rate at the end of each epoch
    best_epoch: int | None = None  # 0-based
    best_val: float | None = None  # the selection criterion's value at best_epoch
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        return len(self.epoch_times)

    def as_dict(self) -> dict:
        return asdict(self)


class TrainResult(tuple):
    """``(model, losses, accuracies)`` as in the seed, plus ``.history`` (a :class:`History`)."""

    def __new__(cls, model: nn.Module, history: History):
        result = super().__new__(cls, (model, history.losses, history.metrics))
        result.history = history
        return result


def progress_enabled(progress: bool | None) -> bool:
    """Bars unless asked not to: off in the ``smoke`` profile and when ``$COURSE_PROGRESS=0``."""
    if progress is not None:
        return progress
    if os.environ.get(PROGRESS_ENV, "").strip() in ("0", "false", "no"):
        return False
    return get_profile().name != "smoke"


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def autocast(device: torch.device, amp: bool):
    """bf16 autocast when ``amp`` (bf16 needs no loss scaling). It pays on GPUs and on CPUs with bf16
    instructions; :func:`course_utils.fast_bf16` tells which."""
    if not amp:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def run_epoch(
    model: nn.Module,
    loader: Iterable,
    criterion: Callable | None,
    metrics: Sequence[Callable] = (),
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    device: torch.device | None = None,
    amp: bool = False,
    progress: bool = False,
    desc: str = "",
    ema: AveragedModel | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; trains when an ``optimizer`` is given, else evaluates.

    Returns ``{"loss": mean loss, <metric.name>: value, ...}``. A per-batch ``scheduler`` is stepped
    after each optimizer step, and an ``ema`` copy of the model (see :func:`ema_copy`) updated.
    Raises :class:`TrainingDiverged` on a NaN or infinite loss.
    """
    device = device or model_device(model)
    training = optimizer is not None
    model.train(training)
    # Checking the loss forces a GPU sync, so accelerators check it every few steps only.
    check_every = 1 if device.type == "cpu" else 25
    loss_sum = torch.zeros((), device=device)
    seen = 0
    sums = [[0, 0] for _ in metrics]
    batches = tqdm(loader, desc=desc, leave=False, disable=not progress, mininterval=1.0)
    with torch.set_grad_enabled(training):
        for step, (x, y) in enumerate(batches):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, amp):
                outputs = model(x)
                loss = criterion(outputs, y) if criterion is not None else None
            if loss is not None:
                if step % check_every == 0 and not torch.isfinite(loss):
                    lr = optimizer.param_groups[0]["lr"] if training else None
                    raise TrainingDiverged(
                        f"The loss became {loss.item()} at step {step} ({desc or 'epoch'}"
                        + (f", lr={lr:.3g}" if lr is not None else "")
                        + "). Training stopped and the model keeps its best weights so far. "
                        "Try a lower learning rate (e.g. 10x smaller) or check the inputs."
                    )
                loss_sum += loss.detach().float() * len(x)
            seen += len(x)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if ema is not None:
                    ema.update_parameters(model)
            with torch.no_grad():
                for pair, metric in zip(sums, metrics, strict=True):
                    num, den = metric(outputs.float(), y)
                    pair[0] += num
                    pair[1] += den
    result = {"loss": loss_sum.item() / max(seen, 1)} if criterion is not None else {}
    if criterion is not None and not torch.isfinite(loss_sum):
        raise TrainingDiverged(
            f"The mean loss of {desc or 'the epoch'} is {result['loss']}: training stopped. "
            "Try a lower learning rate (e.g. 10x smaller) or check the inputs."
        )
    for (num, den), metric in zip(sums, metrics, strict=True):
        result[metric.name] = float(num) / max(float(den), 1.0)
    return result


def ema_copy(model: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``model`` whose weights (and batch-norm statistics) follow an exponential moving
    average of the trained ones: ``ema = decay * ema + (1 - decay) * weights`` after every step.
    The average is smoother than the last step's weights, so it often validates better."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be between 0 and 1 (e.g. 0.99), got {decay}.")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def evaluate(
    model: nn.Module,
    loader: Iterable,
    criterion: Callable | None = None,
    metrics: Sequence[Callable] = (Accuracy(),),
    device: str | torch.device | None = None,
    amp: bool = False,
) -> dict[str, float]:
    """Loss (when ``criterion`` is given) and ``metrics`` of ``model`` over ``loader``, in eval mode."""
    device = torch.device(device) if device else model_device(model)
    return run_epoch(model, loader, criterion, metrics, device=device, amp=amp)


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All outputs and targets of ``loader`` (on the CPU), in eval mode."""
    device = torch.device(device) if device else model_device(model)
    model.eval()
    outputs, targets = [], []
    for x, y in loader:
        outputs.append(model(x.to(device)).float().cpu())
        targets.append(y.cpu())
    return torch.cat(outputs), torch.cat(targets)


def format_metric(name: str, value: float) -> str:
    return f"{name} {100 * value:.2f}%" if name.endswith("acc") else f"{name} {value:.4f}"


def epoch_line(epoch: int, num_epochs: int, history: History) -> str:
    parts = [f"Epoch {epoch}/{num_epochs - 1}"]
    for phase in ("train", "val"):
        parts.append(
            f"{phase} loss {history.losses[phase][-1]:.4f} "
            + format_metric(history.metric_name, history.metrics[phase][-1])
        )
    parts.append(f"({history.epoch_times[-1]:.1f} s)")
    return "  ".join(parts)


def train_val_model(
    model: nn.Module,
    criterion: Callable,
    optimizer: torch.optim.Optimizer,
    dataloaders: dict[str, Iterable],
    num_epochs: int,
    scheduler=None,
    log_interval: int | None = None,
    *,
    device: str | torch.device | None = None,
    metric: Callable | None = None,
    select_on: str = "metric",
    amp: bool = False,
    progress: bool | None = None,
    ema_decay: float | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataloaders["train"]``, validate on ``dataloaders["val"]`` every epoch,
    and return it holding the weights of its best validation epoch.

    - ``metric``: a :mod:`course_utils.metrics` callable (default: accuracy); ``select_on="metric"``
      keeps the epoch with the highest validation metric, ``"loss"`` the lowest validation loss.
    - ``scheduler``: OneCycleLR/CyclicLR are stepped every batch, ReduceLROnPlateau with the
      validation loss, any other scheduler once per epoch.
    - ``log_interval``: print a summary line every that many epochs (None: every epoch, 0: never).
    - ``device``: where to train (default: where the model is); ``amp``: bf16 autocast.
    - ``ema_decay``: validate (and keep) an exponential moving average of the weights instead of the
      weights themselves (e.g. 0.99: an average over the last ~100 steps).

    Returns ``(model, losses, accuracies)`` — dicts of float lists keyed ``"train"``/``"val"`` — with
    the full :class:`History` (epoch times, learning rates, best epoch) as ``result.history``.
    Interrupting (Ctrl-C, the stop button) returns early with the best weights so far.
    """
    missing = {"train", "val"} - set(dataloaders)
    if missing:
        raise ValueError(
            f"dataloaders needs 'train' and 'val' loaders, missing {sorted(missing)}. The model is "
            "selected on the validation split; keep the test set for one final evaluate()."
        )
    if select_on not in ("metric", "loss"):
        raise ValueError(f"select_on must be 'metric' or 'loss', got {select_on!r}.")
    device = torch.device(device) if device else model_device(model)
    model.to(device)
    metric = metric or Accuracy()
    history = History(metric_name=metric.name)
    progress = progress_enabled(progress)
    per_batch = isinstance(scheduler, PER_BATCH_SCHEDULERS)
    best_state = None
    ema = ema_copy(model, ema_decay) if ema_decay is not None else None
    validated = ema.module if ema is not None else model  # the weights that are validated and kept
    start = time.perf_counter()
    epoch = -1
    try:
        for epoch in range(num_epochs):
            tic = time.perf_counter()
            train = run_epoch(
                model,
                dataloaders["train"],
                criterion,
                [metric],
                optimizer,
                scheduler if per_batch else None,
                device,
                amp,
                progress,
                desc=f"epoch {epoch} train",
                ema=ema,
            )
            val = run_epoch(
                validated,
                dataloaders["val"],
                criterion,
                [metric],
                device=device,
                amp=amp,
                progress=progress,
                desc=f"epoch {epoch} val",
            )
            if scheduler is not None and not per_batch:
                plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
                scheduler.step(val["loss"]) if plateau else scheduler.step()
            for phase, values in (("train", train), ("val", val)):
                history.losses[phase].append(values["loss"])
                history.metrics[phase].append(values[metric.name])
            history.epoch_times.append(time.perf_counter() - tic)
            history.lrs.append(float(optimizer.param_groups[0]["lr"]))
            score = val[metric.name] if select_on == "metric" else -val["loss"]
            if history.best_val is None or score > history.best_val:
                history.best_epoch, history.best_val = epoch, score
                best_state = {k: v.detach().clone() for k, v in validated.state_dict().items()}
            if log_interval is None or (
                log_interval and (epoch % log_interval == 0 or epoch == num_epochs - 1)
            ):
                print(epoch_line(epoch, num_epochs, history))
    except KeyboardInterrupt:
        history.interrupted = True
        print(
            f"Interrupted during epoch {epoch}: returning the best model so far "
            f"and the history of the {history.epochs} finished epochs."
        )
    except TrainingDiverged:
        if best_state is not None:
            model.load_state_dict(best_state)
        raise
    if best_state is not None:
        model.load_state_dict(best_state)
    if select_on == "loss" and history.best_val is not None:
        history.best_val = -history.best_val
    elapsed = time.perf_counter() - start
    if log_interval != 0 and history.best_epoch is not None:
        best = (
            format_metric(f"val {metric.name}", history.metrics["val"][history.best_epoch])
            if select_on == "metric"
            else f"val loss {history.best_val:.4f}"
        )
        print(
            f"Training complete in {elapsed // 60:.0f}m {elapsed % 60:.0f}s. "
            f"Best {best} at epoch {history.best_epoch}."
        )
    return TrainResult(model, history)
