"""ResNet9 on CIFAR-10 to 94% test accuracy, timed: the GPU end of the course.

Data stays on the GPU as uint8 (course_utils.TensorLoader); the recipe follows Page's DAWNBench
ResNet9: batch 512, Nesterov SGD with a triangular one-cycle schedule, label smoothing 0.2,
crop + flip + cutout, bf16 autocast, channels_last, and flip test-time augmentation.

    python benchmarks/gpu_resnet9.py --seeds 3            # on a GPU
    python benchmarks/gpu_resnet9.py --seeds 3 --compile --all-train --epochs 20
    python benchmarks/gpu_resnet9.py --quick              # a seconds-long check on any machine

Every run is the ``resnet9`` recipe through ``cu.fit`` (which validates after each epoch); the time
counted is that of the training passes alone (``history.train_times``). With ``--all-train`` the
validation images are also trained on, so validation there only picks among the epochs as a record.
On a GPU (or with ``--compile``) one untimed warm-up run comes first, so cuDNN's autotuning (and
compilation) is not counted, as in airbench. ``--profile`` prints the GPU kernels that take the most
time over a few training steps. ``--pool-first`` trains the ResNet9
layout that max-pools before batch-norm and ReLU (less memory traffic; see ``cu.models.ResNet9``).

Published anchors: 26 s on one V100 (Page, "How to train your ResNet"), ~15 s on one A100.
"""

from __future__ import annotations

import argparse
import statistics

import torch

import course_utils as cu
from course_utils.runtime import PRECISIONS, Runtime, auto_precision


def with_args(args: argparse.Namespace, **changes) -> argparse.Namespace:
    """A copy of the parsed arguments with some values changed (a warm-up or profiling run)."""
    return argparse.Namespace(**(vars(args) | changes))


def kernel_profile(data, args, device, steps: int = 20) -> None:
    """Print the operators that take the most device time over ``steps`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    max_train = min(len(data.train), steps * args.batch_size)
    with profile(activities=activities) as prof:
        train_once(data, 2000, with_args(args, epochs=1, max_train=max_train), device)
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25), flush=True)


def train_once(data, seed: int, args, device) -> dict:
    """One run of the resnet9 recipe through ``cu.fit``; the time is that of the training passes alone."""
    recipe = cu.RECIPES["resnet9"].adjusted(
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_train=args.max_train,
        max_eval=args.max_eval,
        model_args={"pool_first": args.pool_first},
    )
    runtime = Runtime(device, args.precision, args.channels_last, args.compile)
    result = cu.fit(recipe, data, runtime, seed=seed, progress=False)
    model = result.model
    test = runtime.loader(data, "test", 1000, limit=args.max_eval)
    return {
        "seed": seed,
        "train_s": sum(result.history.train_times),
        "tta_acc": cu.recipes.tta_accuracy(model, test, args.precision),
        "acc": cu.evaluate(model, test, precision=args.precision)["acc"],
    }


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=cu.RECIPES["resnet9"].epochs)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--batch-size", type=int, default=cu.RECIPES["resnet9"].batch_size, help="the lr follows it linearly"
    )
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--max-eval", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--val-size", type=int, default=5000, help="held out of training (not used for choices)")
    p.add_argument("--all-train", action="store_true", help="train on all 50,000 images (train + val)")
    p.add_argument("--profile", action="store_true", help="print the top GPU kernels of a few steps")
    p.add_argument("--device", default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (warm-up untimed)")
    p.add_argument(
        "--pool-first", action="store_true", help="ResNet9 with max-pool before batch-norm and ReLU"
    )
    p.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--quick", action="store_true", help="1 epoch on 256 images, 1 seed (a CPU check)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.batch_size = 1, 1, 64
        args.max_train, args.max_eval = args.max_train or 256, args.max_eval or 256
    device = cu.config.get_device(args.device)
    if args.precision == "auto":
        args.precision = auto_precision(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = cu.load_cifar10(args.data_dir, val_size=args.val_size)
    if args.all_train:  # Page's setting: the recipe is fixed in advance, so nothing needs a val split
        data.train = cu.data.Split(
            torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y])
        )
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    recipe = cu.RECIPES["resnet9"].adjusted(epochs=args.epochs, batch_size=args.batch_size)
    print(
        f"ResNet9 | {name} | torch {torch.__version__} | precision={args.precision} "
        f"channels_last={args.channels_last} compile={args.compile} "
        f"pool_first={args.pool_first} | "
        f"{len(data.train.head(args.max_train)):,} training images"
        f" | recipe {recipe.as_dict()}",
        flush=True,
    )
    if device.type == "cuda" or args.compile:
        # A throw-away epoch, so that cuDNN autotuning and compilation are not timed.
        train_once(data, 1000, with_args(args, epochs=1), device)
    if args.profile:
        kernel_profile(data, args, device)
    runs = []
    for seed in range(args.seeds):
        run = train_once(data, seed, args, device)
        runs.append(run)
        print(
            f"seed {seed}: {run['train_s']:.1f} s  test acc {100 * run['acc']:.2f}%  "
            f"with flip TTA {100 * run['tta_acc']:.2f}%",
            flush=True,
        )
    accs = [r["tta_acc"] for r in runs]
    times = [r["train_s"] for r in runs]
    print(
        f"median train time {statistics.median(times):.1f} s | "
        f"TTA acc mean {100 * statistics.mean(accs):.2f}% "
        f"(min {100 * min(accs):.2f}%) | runs >= 94%: {sum(a >= 0.94 for a in accs)}/{len(accs)}"
    )
    return runs


if __name__ == "__main__":
    main()
