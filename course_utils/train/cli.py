"""``python -m course_utils.train``: train a course model from the shell with the course's own code.

A recipe from ``course_utils/recipes.py`` sets every hyper-parameter; options override them::

    python -m course_utils.train --recipe resnet14 --out checkpoints/resnet14_cifar10
    python -m course_utils.train --recipe unet --epochs 30 --out runs/unet_pets
    python -m course_utils.train --model lenet5 --data mnist --epochs 2 --optimizer adam --lr 0.003 \\
        --out runs/lenet

It writes ``OUT.pt`` (checkpoint of the best validation epoch) and ``OUT.json`` (history, the recipe
and the test metrics, measured once at the end). An invalid option, missing data or a diverging loss
ends with a one-line message and a non-zero exit status, and writes nothing.

Under torchrun it trains one model in N processes with DistributedDataParallel (gloo on the CPU,
nccl with one GPU per process), each on its shard of the data; --batch-size stays the global batch::

    torchrun --standalone --nproc_per_node=4 -m course_utils.train --recipe resnet14 --out runs/resnet14_ddp
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from .._io import atomic_write
from ..config import get_device, seed_everything
from ..data import DatasetError, load_cifar10, load_mnist, load_pets, pets_binary
from ..loaders import Augment, make_loaders
from ..models import MODELS, build_model
from ..recipes import OPTIMIZERS, RECIPES, SCHEDULES, Recipe, make_optimizer, make_scheduler
from . import distributed
from .checkpoint import CheckpointError, save_checkpoint
from .loop import TrainingDiverged, evaluate, train_val_model

DATASETS = {
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "pets": lambda data_dir, val_size, seed: pets_binary(load_pets(data_dir, val_size, seed)),
}
VAL_SIZES = {"mnist": 5000, "cifar10": 5000, "pets": 50}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line, not the usage block: the problem and where to look."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m course_utils.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recipe", choices=sorted(RECIPES), help="start from a recipe of course_utils.recipes")
    p.add_argument("--model", choices=sorted(MODELS))
    p.add_argument("--data", choices=sorted(DATASETS))
    p.add_argument("--epochs", type=int)
    p.add_argument(
        "--batch-size",
        type=int,
        help="the global batch: under torchrun each of the N processes takes batch-size / N images per "
        "step (it must divide evenly), so the recipe's learning rate still applies",
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help="learning rate (the peak with a schedule)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, help="the recipe's augmentation (or crop + flip)"
    )
    p.add_argument(
        "--val-size", type=int, help="validation images carved from train (default: 5000; pets 50)"
    )
    p.add_argument("--max-train", type=int, help="use only the first N training images")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (see course_utils.fast_bf16)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory layout")
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun: batch-norm statistics over the global batch (SyncBatchNorm, GPUs only). "
        "Default: off, each process normalises with its own batch's statistics",
    )
    p.add_argument("--seed", type=int, default=0, help="weights, augmentation and batch order")
    p.add_argument(
        "--split-seed",
        type=int,
        help="which training images become validation (default: --seed); fix it to compare or "
        "ensemble runs of different --seed on the same validation images",
    )
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--data-dir", default=None, help="default: $COURSE_DATA_DIR or the user cache")
    p.add_argument("--out", required=True, help="output path without extension")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _recipe(args: argparse.Namespace, p: argparse.ArgumentParser) -> Recipe:
    """The recipe named by ``--recipe`` (or a plain one), with the options given on the command line."""
    base = RECIPES.get(args.recipe)
    if base is None:
        missing = [f"--{k}" for k in ("model", "data", "epochs") if getattr(args, k) is None]
        if missing:
            p.error(f"without --recipe, give {', '.join(missing)}")
        base = Recipe(
            model=args.model,
            model_args={},
            data=args.data,
            epochs=1,
            batch_size=128,
            optimizer="sgd",
            lr=0.01,
        )
    changes = {
        key: getattr(args, key)
        for key in ("model", "data", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay")
        + ("schedule", "label_smoothing")
        if getattr(args, key) is not None
    }
    if args.augment is False:
        changes["augment"] = None
    elif args.augment and base.augment is None:
        changes["augment"] = Augment(crop_padding=4, flip=(changes.get("data", base.data) != "mnist"))
    for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
        if name in changes and not math.isfinite(changes[name]):
            p.error(f"--{name.replace('_', '-')} must be a finite number, got {changes[name]}")
    try:
        recipe = base.replace(**changes)
        probe = [torch.zeros(1, requires_grad=True)]  # checks lr, momentum, weight decay before any work
        make_optimizer(recipe.optimizer, probe, recipe.lr, recipe.momentum, recipe.weight_decay)
    except ValueError as err:
        p.error(str(err))
    for name in ("val_size", "max_train"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be a positive whole number, got {value}")
    return recipe


def _model_args(recipe: Recipe, data) -> dict:
    """The recipe's model arguments plus what the data decides (channels, classes, input size)."""
    channels, size = data.image_shape[0], data.image_shape[1]
    if recipe.model == "unet":
        return {"in_channels": channels, "out_channels": 1} | recipe.model_args
    args = {"num_classes": data.num_classes, "in_channels": channels}
    if recipe.model in ("lenet5", "minivgg"):
        args["input_size"] = size
    return args | recipe.model_args


def train(args: argparse.Namespace, recipe: Recipe) -> dict:
    """Train ``recipe`` as the parsed options say; write the checkpoint and the JSON report.

    Started by torchrun, every process runs this: one DistributedDataParallel model, each process on
    its shard of every split, the epoch sums all-reduced (the same global history in every process),
    and rank 0 alone printing and writing.
    """
    launch = distributed.launch_from_environment()
    device = get_device(args.device)
    if launch is None:
        return _train(args, recipe, device, None)
    device = distributed.setup(launch, device)
    try:
        return _train(args, recipe, device, launch)
    finally:
        distributed.teardown()


def _train(args, recipe: Recipe, device: torch.device, launch: distributed.Launch | None) -> dict:
    """The run itself, in one process (``launch`` None) or in each process of a torchrun launch."""
    main_process = launch is None or launch.is_main
    seed_everything(args.seed)
    data = _load_data(args, recipe.data)
    model = build_model(recipe.model, **_model_args(recipe, data))
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    world_size = 1 if launch is None else launch.world_size
    loaders = make_loaders(
        data,
        distributed.per_process_batch(recipe.batch_size, world_size),
        eval_batch_size=50 if recipe.data == "pets" else 1000,
        augment=recipe.augment,
        device=device,
        seed=args.seed,
        max_train=args.max_train,
        channels_last=args.channels_last,
        shard=None if launch is None else launch.shard,
    )
    replicas = None
    if launch is not None:
        distributed.check_same_steps(loaders["train"])
        model = distributed.wrap(model, device, sync_bn=args.sync_bn)
        replicas = distributed.Replicas()
    optimizer = make_optimizer(
        recipe.optimizer, model.parameters(), recipe.lr, recipe.momentum, recipe.weight_decay
    )
    scheduler = make_scheduler(recipe, optimizer, len(loaders["train"]))
    criterion, metric = recipe.criterion(), recipe.metric()
    if main_process:
        print(
            f"{recipe.model} on {data} | device {device} | "
            f"{sum(p.numel() for p in model.parameters()):,} parameters" + _processes(launch, recipe)
        )
    tic = time.perf_counter()
    model, _, _ = result = train_val_model(
        model, criterion, optimizer, loaders, recipe.epochs, scheduler,
        log_interval=None if main_process else 0, step="batch" if scheduler is not None else None,
        metric=metric, amp=args.amp, progress=not args.quiet and main_process, replicas=replicas,
    )  # fmt: skip
    train_seconds = time.perf_counter() - tic
    test = evaluate(
        model if replicas is None else replicas.for_eval(model), loaders["test"], criterion, [metric],
        amp=args.amp, reduce=None if replicas is None else replicas.reduce,
    )  # fmt: skip
    history = result.history.as_dict()
    report = {
        "recipe": recipe.as_dict(),
        "options": vars(args) | {"recipe": args.recipe},
        "device": str(device),
        "processes": world_size,
        "train_seconds": round(train_seconds, 1),
        "test": test,
        "best_epoch": history["best_epoch"],
        "history": history,
    }
    if main_process:
        _write(Path(args.out), distributed.unwrap(model), report, metric.name)
    return report


def _load_data(args, name: str):
    """The dataset ``name`` with ``--val-size`` validation images chosen by ``--split-seed``."""
    val_size = args.val_size or VAL_SIZES[name]
    split_seed = args.seed if args.split_seed is None else args.split_seed
    return DATASETS[name](args.data_dir, val_size=val_size, seed=split_seed)


def _processes(launch: distributed.Launch | None, recipe: Recipe) -> str:
    """`` | N processes (backend), batch B = N x b`` for the first line of a torchrun run."""
    if launch is None:
        return ""
    share = recipe.batch_size // launch.world_size
    return (
        f" | {launch.world_size} processes ({torch.distributed.get_backend()}), global batch "
        f"{recipe.batch_size} = {launch.world_size} x {share}"
    )


def _write(out: Path, model: torch.nn.Module, report: dict, metric_name: str) -> None:
    """``OUT.pt`` (the plain model's weights and metadata) and ``OUT.json`` (the report), then say so."""
    history, test = report["history"], report["test"]
    save_checkpoint(
        out.with_suffix(".pt"),
        model,
        epoch=history["best_epoch"],
        metrics={"test": test, f"val_{metric_name}": history["best_val"]},
        history=history,
        extra={"recipe": report["recipe"], "options": report["options"]},
    )
    atomic_write(out.with_suffix(".json"), lambda f: f.write(json.dumps(report, indent=1).encode()))
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items())
    print(
        f"test {shown} | trained in {report['train_seconds']:.0f} s | "
        f"wrote {out.with_suffix('.pt')} and {out.with_suffix('.json')}"
    )


def main(argv=None) -> dict:
    p = _parser()
    args = p.parse_args(argv)
    recipe = _recipe(args, p)
    try:
        return train(args, recipe)
    except (ValueError, DatasetError, TrainingDiverged, CheckpointError) as err:
        rank, world_size = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")  # set by torchrun
        where = f" (rank {rank} of {world_size})" if rank is not None and world_size is not None else ""
        print(f"{p.prog}: error{where}: {' '.join(str(err).split())}", file=sys.stderr)
        raise SystemExit(1) from None
