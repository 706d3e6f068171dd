"""``python -m course_utils.train``: run a named recipe of the course from the shell, with the course's
own :func:`~course_utils.train.fitting.fit`.

A recipe of ``course_utils.recipes.RECIPES`` sets every hyper-parameter, for a profile (default ``full``:
the recipe as published); options override values, and a changed --batch-size without --lr scales the
learning rate with it (the batch-size rule of ``course_utils.recipes``)::

    python -m course_utils.train --recipe resnet14 --out checkpoints/resnet14_cifar10
    python -m course_utils.train --recipe unet_pets --profile cpu --out runs/unet_pets
    python -m course_utils.train --model lenet5 --data mnist --epochs 2 --optimizer adam --lr 0.003 \\
        --out runs/lenet

The runtime is the lessons' (``cu.runtime``): --precision, --channels-last and --compile override it,
and ``COURSE_DRY_RUN=1`` caps the run as it caps the notebooks. It writes ``OUT.pt`` (the best
validation epoch's weights) and ``OUT.json`` (the same metadata: recipe, history, the test metrics
measured once at the end, and the command that reproduces the run). An invalid option, missing data
or a diverging loss ends with a one-line message and a non-zero exit status, and writes nothing.

Under torchrun it trains one model in N processes with DistributedDataParallel (gloo on the CPU,
nccl with one GPU per process), each on its shard of the data; --batch-size stays the global batch::

    torchrun --standalone --nproc_per_node=4 -m course_utils.train --recipe resnet14 --out runs/resnet14_ddp
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..config import PROFILES, cpu_capability, get_device, get_profile
from ..data import DatasetError
from ..loaders import Augment
from ..models import MODELS
from ..optim import OPTIMIZERS
from ..recipes import DATA, RECIPES, SCHEDULES, Recipe, load_data
from ..runtime import PRECISIONS, configure_process, runtime
from . import distributed
from .checkpoint import CheckpointError
from .fitting import fit
from .loop import TrainingDiverged, evaluate

__all__ = ["main"]

PROG = "python -m course_utils.train"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line, not the usage block: the problem and where to look."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", choices=sorted(RECIPES), help="a named recipe of course_utils.recipes")
    p.add_argument("--profile", choices=sorted(PROFILES), default="full", help="default: full")
    p.add_argument("--model", choices=sorted(MODELS), help="without --recipe: the model to train")
    p.add_argument("--data", choices=DATA, help="without --recipe: the data to train on")
    p.add_argument("--epochs", type=int)
    p.add_argument(
        "--batch-size",
        type=int,
        help="the global batch (without --lr, the learning rate follows it linearly): under torchrun each "
        "of the N processes takes batch-size / N images per step (it must divide evenly)",
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
    p.add_argument(
        "--precision", choices=("auto", *PRECISIONS), default="auto",
        help="auto (default): bf16 where it is fast, fp16 with a gradient scaler on GPUs without bf16, "
        "fp32 elsewhere",
    )  # fmt: skip
    p.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=None,
        help="channels_last memory layout (default: where it is fast)",
    )  # fmt: skip
    p.add_argument("--compile", action="store_true", help="train a torch.compile'd model")
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


def _recipe(args: argparse.Namespace, p: argparse.ArgumentParser, profile) -> Recipe:
    """The recipe named by ``--recipe`` (or a plain one) for the profile, with the options given; the
    profile's caps (a dry run's included) come last, so no option lifts them."""
    changes = {
        key: getattr(args, key)
        for key in ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule")
        + ("label_smoothing", "max_train")
        if getattr(args, key) is not None
    }
    for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
        if name in changes and not math.isfinite(changes[name]):
            p.error(f"--{name.replace('_', '-')} must be a finite number, got {changes[name]}")
    for name in ("val_size", "max_train"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be a positive whole number, got {value}")
    try:
        base = _base_recipe(args, p)
        if args.augment is False:
            changes["augment"] = None
        elif args.augment and base.augment is None:
            changes["augment"] = Augment(crop_padding=4, flip=base.data != "mnist")
        recipe = base.for_profile(profile, **changes)  # the recipe checks every value before any work
    except ValueError as err:
        p.error(str(err))
    if recipe.model not in MODELS:
        p.error(
            f"--recipe {recipe.name} trains {recipe.model}, which is not a course model a checkpoint can "
            "rebuild: run it in its lesson (07) with cu.fit"
        )
    return recipe


def _base_recipe(args: argparse.Namespace, p: argparse.ArgumentParser) -> Recipe:
    """``--recipe``'s registered recipe, or a plain one for ``--model`` on ``--data`` (SGD at 0.01 for
    batches of 128; BCE + Dice and IoU for the pet masks, cross-entropy and accuracy otherwise)."""
    if args.recipe is not None:
        if args.model or args.data:
            p.error(f"--recipe {args.recipe} names its model and data; leave out --model and --data")
        return RECIPES[args.recipe]
    missing = [f"--{k}" for k in ("model", "data", "epochs") if getattr(args, k) is None]
    if missing:
        p.error(f"without --recipe, give {', '.join(missing)}")
    masks = args.data == "pets"
    return Recipe(
        name="custom", model=args.model, data=args.data, epochs=args.epochs, batch_size=128, optimizer="sgd",
        lr=0.01, loss="bce_dice" if masks else "cross_entropy", metric="iou" if masks else "acc",
    )  # fmt: skip


def train(args: argparse.Namespace, recipe: Recipe, profile, argv: list[str]) -> dict:
    """Train ``recipe`` as the parsed options say; write the checkpoint and the JSON report.

    Started by torchrun, every process runs this: one DistributedDataParallel model, each process on
    its shard of every split, the epoch sums all-reduced (the same global history in every process),
    and rank 0 alone printing and writing.
    """
    launch = distributed.launch_from_environment()
    device = get_device(args.device)
    if launch is None:
        return _train(args, recipe, profile, device, None, argv)
    device = distributed.setup(launch, device)
    try:
        return _train(args, recipe, profile, device, replace(launch, sync_bn=args.sync_bn), argv)
    finally:
        distributed.teardown()


def _train(args, recipe: Recipe, profile, device, launch, argv: list[str]) -> dict:
    """The run itself, in one process (``launch`` None) or in each process of a torchrun launch."""
    main_process = launch is None or launch.is_main
    split_seed = args.seed if args.split_seed is None else args.split_seed
    data = load_data(recipe, args.data_dir, args.val_size, seed=split_seed)
    rt = runtime(
        profile, device, precision=args.precision, channels_last=args.channels_last, compile=args.compile
    )
    if main_process:
        first = f"{recipe.name} ({recipe.profile} profile) on {data} | {rt}"
        print(first + _processes(launch, recipe, device))
    tic = time.perf_counter()
    result = fit(
        recipe, data, rt, seed=args.seed, log_interval=None if main_process else 0,
        progress=not args.quiet and main_process, launch=launch,
    )  # fmt: skip
    train_seconds = time.perf_counter() - tic
    test = _test(result, recipe, data, rt, profile, launch)
    run = {
        "command": " ".join([PROG, *map(shlex.quote, argv)]),
        "device": str(device),
        "runtime": str(rt),
        "processes": 1 if launch is None else launch.world_size,
        "train_seconds": round(train_seconds, 1),
        "machine": f"{platform.processor() or platform.machine()}, {cpu_capability()} kernels",
        "split_seed": split_seed,
        "test_images": len(data.test.head(profile.max_eval)),
    }
    if main_process:
        out = Path(args.out)
        result.save(out.with_suffix(".pt"), test=test, run=run, report=True)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items())
        print(f"test {shown} | trained in {train_seconds:.0f} s | wrote {out.with_suffix('.pt')} and .json")
    return {"recipe": recipe.as_dict(), "history": result.history.as_dict(), "test": test, "run": run}


def _test(result, recipe: Recipe, data, rt, profile, launch) -> dict:
    """The test metrics of the kept model, measured once, on the whole test split (a profile's cap
    only, not the recipe's ``max_eval``), each process on its shard under torchrun."""
    loader = rt.loaders(
        data, recipe.batch_size, eval_batch_size=recipe.eval_batch_size, max_eval=profile.max_eval,
        shard=None if launch is None else launch.shard,
    )["test"]  # fmt: skip
    sync = [] if launch is None else [distributed.DDPSync()]
    model = sync[0].eval_model(result.model) if sync else result.model
    metrics = [recipe.make_metric()]
    return evaluate(model, loader, recipe.make_criterion(), metrics, precision=rt.precision, callbacks=sync)


def _processes(launch: distributed.Launch | None, recipe: Recipe, device: torch.device) -> str:
    """`` | N processes (backend), batch B = N x b`` for the first line of a torchrun run."""
    if launch is None:
        return ""
    share = recipe.batch_size // launch.world_size
    backend = "nccl" if device.type == "cuda" else "gloo"  # as distributed.setup chooses
    return (
        f" | {launch.world_size} processes ({backend}), global batch "
        f"{recipe.batch_size} = {launch.world_size} x {share}"
    )


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = _parser()
    args = p.parse_args(argv)
    try:
        profile = get_profile(args.profile)
    except ValueError as err:
        p.error(str(err))
    recipe = _recipe(args, p, profile)
    configure_process()
    try:
        return train(args, recipe, profile, argv)
    except (ValueError, DatasetError, TrainingDiverged, CheckpointError) as err:
        rank, world_size = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")  # set by torchrun
        where = f" (rank {rank} of {world_size})" if rank is not None and world_size is not None else ""
        print(f"{p.prog}: error{where}: {' '.join(str(err).split())}", file=sys.stderr)
        raise SystemExit(1) from None
