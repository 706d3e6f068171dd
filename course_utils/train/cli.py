"""``python -m course_utils.train``: train a course model from the shell with the course's own code.

Example (the ResNet of notebook 05)::

    python -m course_utils.train --model resnet --data cifar10 --epochs 30 --batch-size 256 \\
        --optimizer nesterov --lr 0.1 --weight-decay 5e-4 --schedule onecycle \\
        --label-smoothing 0.1 --augment --out checkpoints/resnet14_cifar10

It writes ``OUT.pt`` (checkpoint, best validation epoch) and ``OUT.json`` (history, the recipe and
the test metrics, measured once at the end).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn as nn

from ..config import get_device, seed_everything
from ..data import load_cifar10, load_mnist
from ..loaders import Augment, make_loaders
from ..models import build_model
from ..recipes import make_optimizer, one_cycle
from .checkpoint import save_checkpoint
from .loop import evaluate, train_val_model

DATASETS = {"mnist": load_mnist, "cifar10": load_cifar10}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m course_utils.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, choices=["lenet5", "minivgg", "resnet", "resnet9"])
    p.add_argument("--data", required=True, choices=sorted(DATASETS))
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "nesterov", "adam", "adamw"])
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (peak lr with onecycle)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", default="none", choices=["none", "onecycle"])
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--augment", action="store_true", help="random crop (pad 4) + horizontal flip")
    p.add_argument("--val-size", type=int, default=5000, help="validation images carved from train")
    p.add_argument("--max-train", type=int, default=None, help="use only the first N train images")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (see course_utils.fast_bf16)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory layout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--data-dir", default=None, help="default: $COURSE_DATA_DIR or the user cache")
    p.add_argument("--out", required=True, help="output path without extension")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    seed_everything(args.seed)
    device = get_device(args.device)
    data = DATASETS[args.data](args.data_dir, val_size=args.val_size, seed=args.seed)
    channels, size = data.image_shape[0], data.image_shape[1]
    kwargs = {"num_classes": data.num_classes, "in_channels": channels}
    if args.model in ("lenet5", "minivgg"):
        kwargs["input_size"] = size
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = build_model(args.model, **kwargs).to(device, memory_format=layout)
    augment = Augment(crop_padding=4, flip=args.data != "mnist") if args.augment else None
    loaders = make_loaders(
        data,
        args.batch_size,
        augment=augment,
        device=device,
        seed=args.seed,
        max_train=args.max_train,
        channels_last=args.channels_last,
    )
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = None
    if args.schedule == "onecycle":
        scheduler = one_cycle(optimizer, args.lr, args.epochs, len(loaders["train"]))
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)  # models give log-probs
    print(
        f"{args.model} on {data} | device {device} | {sum(p.numel() for p in model.parameters()):,}"
        " parameters"
    )
    tic = time.perf_counter()
    model, _, _ = result = train_val_model(
        model,
        criterion,
        optimizer,
        loaders,
        args.epochs,
        scheduler,
        device=device,
        amp=args.amp,
        progress=not args.quiet,
    )
    train_seconds = time.perf_counter() - tic
    test = evaluate(model, loaders["test"], nn.NLLLoss(), device=device, amp=args.amp)
    history = result.history.as_dict()
    report = {
        "recipe": vars(args),
        "device": str(device),
        "train_seconds": round(train_seconds, 1),
        "test": test,
        "best_epoch": history["best_epoch"],
        "history": history,
    }
    out = Path(args.out)
    save_checkpoint(
        out.with_suffix(".pt"),
        model,
        epoch=history["best_epoch"],
        metrics={"test": test, "val_acc": history["best_val"]},
        history=history,
        extra={"recipe": vars(args)},
    )
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(
        f"test loss {test['loss']:.4f} acc {100 * test['acc']:.2f}% | trained in "
        f"{train_seconds:.0f} s | wrote {out.with_suffix('.pt')} and {out.with_suffix('.json')}"
    )
    return report
