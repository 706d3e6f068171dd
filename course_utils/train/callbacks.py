"""What a run needs beyond the loop itself, attached as callbacks so that the loop stays the one lesson 02
writes out: memory handed back between runs, the sums of several processes combined, every step's loss.

A callback overrides the hooks it needs; the others do nothing:

- ``before_fit(model)`` / ``after_fit(model)``: around :func:`~course_utils.train.loop.train_val_model`;
- ``eval_model(model)``: the model that validates (DDP: the plain model with rank 0's buffers);
- ``reduce_sums(sums)``: an epoch's float64 sums ``[loss x images, images, metric num, metric den, ...]``
  of this process, returned as the totals over every process;
- ``after_step(loss)``: the loss tensor of every training step.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .._memory import release_memory

__all__ = ["Callback", "ReleaseMemory", "StepLosses"]


class Callback:
    """The hooks a run calls (see the module doc); each does nothing here."""

    def before_fit(self, model: nn.Module) -> None:
        pass

    def after_fit(self, model: nn.Module) -> None:
        pass

    def eval_model(self, model: nn.Module) -> nn.Module:
        return model

    def reduce_sums(self, sums: torch.Tensor) -> torch.Tensor:
        return sums

    def after_step(self, loss: torch.Tensor) -> None:
        pass


class ReleaseMemory(Callback):
    """Hand the memory that earlier work freed back to the system before a run, and the run's own after
    it (:func:`course_utils.release_memory`): a notebook's resident memory then stays near what one
    run needs (Binder: about 2 GB). ``train_val_model`` attaches it by default."""

    def before_fit(self, model: nn.Module) -> None:
        release_memory()

    def after_fit(self, model: nn.Module) -> None:
        release_memory()


class StepLosses(Callback):
    """Keeps the loss of every training step in :attr:`losses` (the fine-grained curve of a short run)."""

    def __init__(self):
        self.losses: list[float] = []

    def after_step(self, loss: torch.Tensor) -> None:
        self.losses.append(loss.item())
