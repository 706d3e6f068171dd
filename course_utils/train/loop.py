"""One training loop for every lesson: train, validate, keep the best weights, evaluate once.

``train_val_model`` keeps the reference chapter's call shape and return value
``(model, losses, accuracies)``. Its rules are stated by the caller:

- the model is trained where it is (move it first: ``runtime.model(model)``);
- the scheduler steps as the caller says: ``step="batch"`` (OneCycleLR, a per-step LambdaLR),
  ``"epoch"`` (StepLR, CosineAnnealingLR over epochs) or ``"val_loss"`` (ReduceLROnPlateau);
- the kept weights are those of the epoch with the best validation metric (the test set is never
  looked at);
- a loss that becomes NaN or infinite stops training with :class:`TrainingDiverged`, and the model
  gets back its best weights so far, or its starting weights if no epoch finished;
- Ctrl-C (or the notebook's stop button) returns early with the best weights so far;
- ``precision`` is ``"fp32"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast, and a gradient scaler
  when training): pass ``runtime.precision``;
- what a run needs beyond the loop (memory handed back, several processes' sums combined, every
  step's loss) comes as callbacks (:mod:`.callbacks`).

Notebook 02 writes the same loop out by hand and checks that both give the same history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .._memory import release_memory
from ..metrics import Accuracy
from .callbacks import Callback, ReleaseMemory

__all__ = [
    "History",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "predict",
    "run_epoch",
    "train_val_model",
]

SCHEDULER_STEPS = ("batch", "epoch", "val_loss")
ADVICE = "Try a lower learning rate (e.g. 10x smaller), or check the inputs for NaN or infinite values."


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class History:
    """What happened during training. Lists hold one plain float per epoch."""

    metric_name: str
    losses: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "val": []})
    metrics: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "val": []})
    epoch_times: list[float] = field(default_factory=list)  # seconds, train + validation
    train_times: list[float] = field(default_factory=list)  # seconds, the training pass alone
    lrs: list[float] = field(default_factory=list)  # learning rate at the end of each epoch
    best_epoch: int | None = None  # an index into the lists (0-based); printed counted from 1
    best_val: float | None = None  # the validation metric at best_epoch
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        return len(self.epoch_times)

    def record(self, train: dict, val: dict, seconds: tuple[float, float], lr: float) -> bool:
        """Append one epoch (``seconds``: training pass, whole epoch); return True when its validation
        metric is the best so far."""
        for phase, values in (("train", train), ("val", val)):
            self.losses[phase].append(values["loss"])
            self.metrics[phase].append(values[self.metric_name])
        self.train_times.append(seconds[0])
        self.epoch_times.append(seconds[1])
        self.lrs.append(lr)
        if self.best_val is None or val[self.metric_name] > self.best_val:
            self.best_epoch, self.best_val = self.epochs - 1, val[self.metric_name]
            return True
        return False

    def line(self, num_epochs: int) -> str:
        """The summary line of the last epoch, epochs counted from 1 ("Epoch 1/4" ... "Epoch 4/4")."""
        parts = [f"Epoch {self.epochs}/{num_epochs}"]
        for phase in ("train", "val"):
            parts.append(
                f"{phase} loss {self.losses[phase][-1]:.4f} "
                + _format_metric(self.metric_name, self.metrics[phase][-1])
            )
        return "  ".join(parts + [f"({self.epoch_times[-1]:.1f} s)"])

    def as_dict(self) -> dict:
        return asdict(self)


class TrainResult(tuple):
    """``(model, losses, accuracies)`` as in the reference chapter, plus ``.history`` (a :class:`History`)."""

    def __new__(cls, model: nn.Module, history: History):
        result = super().__new__(cls, (model, history.losses, history.metrics))
        result.history = history
        return result


def _format_metric(name: str, value: float) -> str:
    return f"{name} {100 * value:.2f}%" if name.endswith("acc") else f"{name} {value:.4f}"


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _autocast(device: torch.device, precision: str):
    """Autocast for ``precision`` "bf16" or "fp16"; nothing for "fp32" (see
    :func:`course_utils.runtime.auto_precision`)."""
    if precision not in ("fp32", *_AUTOCAST):
        raise ValueError(f"precision must be fp32, bf16 or fp16 (pass runtime.precision), got {precision!r}.")
    return torch.autocast(device.type, dtype=_AUTOCAST[precision]) if precision != "fp32" else nullcontext()


def _check_classes(outputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Class scores (N, C) need labels in [0, C): say so before the loss fails on an index."""
    if outputs.dim() == 2 and targets.dim() == 1 and not targets.dtype.is_floating_point:
        top = int(targets.max()) if targets.numel() else -1
        if top >= outputs.shape[1] or (targets.numel() and int(targets.min()) < 0):
            raise ValueError(
                f"The model gives {outputs.shape[1]} class scores, but the labels go up to {top}. Build the "
                f"model for the data's classes, e.g. num_classes={top + 1} (dataset.num_classes)."
            )


def run_epoch(
    model: nn.Module,
    loader: Iterable,
    criterion: Callable | None,
    metrics: Sequence[Callable] = (),
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    *,
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = False,
    desc: str = "epoch",
    callbacks: Sequence[Callback] = (),
) -> dict[str, float]:
    """One pass over ``loader`` on the model's device: trains when an ``optimizer`` is given (and steps
    ``scheduler`` after every optimizer step), else evaluates without gradients. ``precision`` "fp16"
    trains through ``scaler`` (a ``torch.amp.GradScaler``); ``callbacks`` see every step's loss and
    combine the epoch's sums with other processes' (:mod:`.callbacks`).

    Returns ``{"loss": mean loss, <metric.name>: value, ...}``. Raises :class:`TrainingDiverged` on a
    NaN or infinite loss, and ValueError for a loader without batches.
    """
    device = _model_device(model)
    training = optimizer is not None
    if training and precision == "fp16" and scaler is None:
        raise ValueError(
            "precision='fp16' trains with a gradient scaler: pass scaler=torch.amp.GradScaler(device.type) "
            "(train_val_model and fit make one), or use precision='bf16' or 'fp32'."
        )
    model.train(training)
    check_every = 1 if device.type == "cpu" else 25  # checking the loss forces a GPU sync
    loss_sum, seen = torch.zeros((), device=device), 0
    sums = [[0, 0] for _ in metrics]
    with torch.set_grad_enabled(training):
        for step, (x, y) in enumerate(
            tqdm(loader, desc=desc, leave=False, disable=not progress, mininterval=1)
        ):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with _autocast(device, precision):
                outputs = model(x)
                if step == 0:
                    _check_classes(outputs, y)
                loss = criterion(outputs, y) if criterion is not None else None
            if loss is not None:
                if step % check_every == 0 and not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"The loss became {loss.item()} at step {step} of {desc}. {ADVICE}"
                    )
                loss_sum += loss.detach().float() * len(x)
            seen += len(x)
            if training:
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:  # fp16: the loss scaled up so that small gradients do not round to zero
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                if scheduler is not None:
                    scheduler.step()
                for callback in callbacks:
                    callback.after_step(loss)
            with torch.no_grad():
                for pair, metric in zip(sums, metrics, strict=True):
                    num, den = metric(outputs.float(), y)
                    pair[0] += num
                    pair[1] += den
    loss_total = loss_sum.item()
    if callbacks:
        loss_total, seen, sums = _reduced(callbacks, loss_total, seen, sums)
    if seen == 0:
        raise ValueError(
            f"The loader of {desc} yielded no batches: it is empty. Check the split and its max_train / "
            "max_eval, or drop_last with a batch size larger than the data."
        )
    result = {"loss": loss_total / seen} if criterion is not None else {}
    if criterion is not None and not math.isfinite(result["loss"]):
        raise TrainingDiverged(f"The mean loss of {desc} is {result['loss']}. {ADVICE}")
    for (num, den), metric in zip(sums, metrics, strict=True):
        result[metric.name] = float(num) / max(float(den), 1.0)
    return result


def _reduced(
    callbacks: Sequence[Callback], loss_total: float, seen: int, sums: list
) -> tuple[float, int, list]:
    """The epoch's sums after each callback's ``reduce_sums``, in the shapes the epoch keeps them."""
    totals = torch.tensor(
        [loss_total, seen] + [float(value) for pair in sums for value in pair], dtype=torch.float64
    )
    for callback in callbacks:
        totals = callback.reduce_sums(totals)
    totals = totals.tolist()
    return totals[0], int(totals[1]), [totals[i : i + 2] for i in range(2, len(totals), 2)]


def evaluate(
    model: nn.Module,
    loader: Iterable,
    criterion: Callable | None = None,
    metrics: Sequence[Callable] = (Accuracy(),),
    precision: str = "fp32",
    callbacks: Sequence[Callback] = (),
) -> dict[str, float]:
    """Loss (when ``criterion`` is given) and ``metrics`` of ``model`` over ``loader``, in eval mode.
    ``callbacks``: e.g. the sums of several processes combined (see :func:`run_epoch`)."""
    release_memory()  # what earlier work freed goes back to the system before this pass's peak
    return run_epoch(
        model, loader, criterion, metrics, precision=precision, desc="evaluation", callbacks=callbacks
    )


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """All outputs (float32) and targets of ``loader``, on the CPU, in eval mode."""
    device = _model_device(model)
    model.eval()
    release_memory()
    outputs, targets = [], []
    for x, y in loader:
        with _autocast(device, precision):
            outputs.append(model(x.to(device)).float().cpu())
        targets.append(y.cpu())
    if not outputs:
        raise ValueError("predict: the loader yielded no batches (it is empty).")
    return torch.cat(outputs), torch.cat(targets)


def _check_arguments(dataloaders, num_epochs, scheduler, step) -> None:
    missing = {"train", "val"} - set(dataloaders)
    if missing:
        raise ValueError(
            f"dataloaders needs 'train' and 'val' loaders, missing {sorted(missing)}. The model is "
            "selected on the validation split; keep the test set for one final evaluate()."
        )
    if not (isinstance(num_epochs, int) and num_epochs > 0):
        raise ValueError(f"num_epochs must be a positive whole number, got {num_epochs!r}.")
    if (scheduler is None) != (step is None) or (step is not None and step not in SCHEDULER_STEPS):
        raise ValueError(
            f"With a scheduler, say how it steps: step='batch' (OneCycleLR, a per-step LambdaLR), 'epoch' "
            f"(StepLR) or 'val_loss' (ReduceLROnPlateau); without one, leave step out. Got "
            f"scheduler={type(scheduler).__name__ if scheduler is not None else None}, step={step!r}."
        )


def _format_duration(seconds: float) -> str:
    """``seconds`` as minutes and whole seconds, rounded once: 479.6 -> "8m 0s" (not "7m 60s")."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs}s"


def train_val_model(
    model: nn.Module,
    criterion: Callable,
    optimizer: torch.optim.Optimizer,
    dataloaders: dict[str, Iterable],
    num_epochs: int,
    scheduler=None,
    log_interval: int | None = None,
    *,
    step: str | None = None,
    metric: Callable | None = None,
    precision: str = "fp32",
    progress: bool = True,
    callbacks: Sequence[Callback] = (ReleaseMemory(),),
) -> TrainResult:
    """Train ``model`` on ``dataloaders["train"]``, validate on ``dataloaders["val"]`` every epoch,
    and return it holding the weights of its best validation epoch.

    - ``scheduler`` with ``step="batch" | "epoch" | "val_loss"``: when it steps (see the module doc).
    - ``log_interval``: print a summary line every that many epochs (None: every epoch, 0: never).
    - ``metric``: a :mod:`course_utils.metrics` callable (default: accuracy); the highest validation
      value selects the epoch. ``precision``: "fp32", "bf16" or "fp16" (a gradient scaler is made).
      ``progress``: tqdm bars.
    - ``callbacks``: :mod:`.callbacks` hooks; by default :class:`~.callbacks.ReleaseMemory` (memory
      handed back before and after the run). Several processes training one model add
      :class:`course_utils.train.distributed.DDPSync`.

    Returns ``(model, losses, accuracies)`` (dicts of float lists keyed ``"train"``/``"val"``), with
    the full :class:`History` (epoch times, learning rates, best epoch) as ``result.history``.
    """
    _check_arguments(dataloaders, num_epochs, scheduler, step)
    metric = metric or Accuracy()
    history = History(metric_name=metric.name)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # the starting weights
    scaler = torch.amp.GradScaler(_model_device(model).type) if precision == "fp16" else None
    for callback in callbacks:
        callback.before_fit(model)
    start = time.perf_counter()
    try:
        for epoch in range(num_epochs):
            tic = time.perf_counter()
            per_batch = scheduler if step == "batch" else None
            train = run_epoch(
                model, dataloaders["train"], criterion, [metric], optimizer, per_batch, precision=precision,
                scaler=scaler, progress=progress, desc=f"epoch {epoch} train", callbacks=callbacks,
            )  # fmt: skip
            trained = time.perf_counter() - tic
            validating = model
            for callback in callbacks:
                validating = callback.eval_model(validating)
            val = run_epoch(
                validating, dataloaders["val"], criterion, [metric], precision=precision, progress=progress,
                desc=f"epoch {epoch} val", callbacks=callbacks,
            )  # fmt: skip
            if step == "epoch":
                scheduler.step()
            elif step == "val_loss":
                scheduler.step(val["loss"])
            seconds = (trained, time.perf_counter() - tic)
            if history.record(train, val, seconds, optimizer.param_groups[0]["lr"]):
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if log_interval is None or (
                log_interval and (epoch % log_interval == 0 or epoch == num_epochs - 1)
            ):
                print(history.line(num_epochs))
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted: returning the best model so far and the history of {history.epochs} epoch(s).")
    except TrainingDiverged as err:
        model.load_state_dict(best_state)
        kept = f"the weights of epoch {history.best_epoch + 1}" if history.epochs else "its starting weights"
        raise TrainingDiverged(f"{err} Training stopped; the model holds {kept}.") from None
    model.load_state_dict(best_state)
    del best_state
    for callback in callbacks:
        callback.after_fit(model)
    elapsed = time.perf_counter() - start
    if log_interval != 0 and history.best_epoch is not None:
        best = _format_metric(f"val {metric.name}", history.best_val)
        print(
            f"Training complete in {_format_duration(elapsed)}. "
            f"Best {best} at epoch {history.best_epoch + 1} of {history.epochs}."
        )
    return TrainResult(model, history)
