"""One function runs every training of the course outside the loops lessons 02-04 write out:
:func:`fit` turns a :class:`~course_utils.recipes.Recipe` into a trained model.

    recipe = cu.RECIPES["resnet14"].for_profile(profile)
    result = cu.fit(recipe, cifar, runtime)      # result.model, result.history
    result.save("runs/resnet14.pt", test=cu.evaluate(result.model, test_loader))

The command line (``python -m course_utils.train``), its torchrun launch, the lessons from 05 on and
the benchmarks all call it, so a change to how the course trains (a new checkpoint field, gradient
clipping, an EMA) is made here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from ..config import seed_everything
from ..data import Dataset
from ..runtime import Runtime
from ..transfer import FrozenBackbone
from . import distributed
from .callbacks import Callback, ReleaseMemory
from .checkpoint import save_checkpoint
from .loop import History, train_val_model

if TYPE_CHECKING:  # recipes imports the loop, which this package holds
    from ..recipes import Recipe

__all__ = ["FitResult", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` returns: the model holding its best validation epoch's weights (the plain
    network: no DDP, compile or frozen-backbone wrapper), its :class:`~.loop.History`, the recipe,
    the seed, and the data's normalisation statistics (which new inputs need)."""

    model: nn.Module
    history: History
    recipe: Recipe
    seed: int
    normalization: tuple
    loaders: dict  # the run's "train", "val" and "test" loaders (the test set is for one final evaluate)

    def save(self, path, test: dict | None = None, run: dict | None = None, report: bool = False):
        """The checkpoint of this run (see :mod:`.checkpoint`); ``test``: the test metrics, measured once."""
        return save_checkpoint(
            path,
            self.model,
            recipe=self.recipe.as_dict(),
            seed=self.seed,
            normalization=self.normalization,
            history=self.history.as_dict(),
            test=test,
            run=run,
            report=report,
        )


def fit(
    recipe: Recipe,
    data: Dataset,
    runtime: Runtime,
    *,
    seed: int = 0,
    model: nn.Module | None = None,
    callbacks: Sequence[Callback] = (),
    log_interval: int | None = 0,
    progress: bool = True,
    launch: distributed.Launch | None = None,
) -> FitResult:
    """Train ``recipe`` on ``data`` where ``runtime`` says, and keep the best validation epoch.

    In order: seed everything with ``seed``; build the loaders (the recipe's batch size, augmentation
    and subsets; ``seed`` also orders the batches); build the model (:meth:`Recipe.build_model`:
    random weights or a packaged checkpoint's, frozen parts, a new head), or take ``model`` as given;
    build the optimizer, schedule, loss and metric the recipe names; train with
    :func:`~.loop.train_val_model`, validating every epoch. ``callbacks`` come on top of
    :class:`~.callbacks.ReleaseMemory`. ``log_interval``: a summary line every that many epochs (None:
    every epoch, 0: none). ``launch``: under torchrun, this process's place: the loaders take its
    shard, the model trains in DistributedDataParallel, and :class:`~.distributed.DDPSync` combines
    the processes' sums. With ``runtime.compile``, the model trains compiled by ``torch.compile``.
    """
    seed_everything(seed)
    loaders = runtime.loaders(
        data,
        recipe.batch_size
        if launch is None
        else distributed.per_process_batch(recipe.batch_size, launch.world_size),
        eval_batch_size=recipe.eval_batch_size,
        augment=recipe.augment,
        seed=seed,
        max_train=recipe.max_train,
        max_eval=recipe.max_eval,
        shard=None if launch is None else launch.shard,
        drop_last=recipe.drop_last,
    )
    model = runtime.model(model if model is not None else recipe.build_model(data))
    optimizer = recipe.make_optimizer(model)
    scheduler = recipe.make_scheduler(optimizer, len(loaders["train"]))
    callbacks = [ReleaseMemory(), *callbacks]
    trained = model
    if launch is not None:
        distributed.check_same_steps(loaders["train"])
        trained = distributed.wrap(model, runtime.device, sync_bn=launch.sync_bn)
        callbacks.append(distributed.DDPSync())
    if runtime.compile:
        trained = torch.compile(trained)
    result = train_val_model(
        trained, recipe.make_criterion(), optimizer, loaders, recipe.epochs, scheduler, log_interval,
        step="batch" if scheduler is not None else None, metric=recipe.make_metric(),
        precision=runtime.precision, progress=progress, callbacks=callbacks,
    )  # fmt: skip
    plain = model.model if isinstance(model, FrozenBackbone) else model
    return FitResult(plain, result.history, recipe, seed, (data.mean, data.std), loaders)
