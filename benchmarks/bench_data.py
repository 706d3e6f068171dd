"""Data-layer figures: archive load times, and one MNIST epoch of batches (no model) through the
course's in-memory ``TensorLoader`` versus the classic per-sample ``DataLoader`` with
``ToTensor()`` + ``Normalize()`` (batch 64, no workers, as in the seed).

    COURSE_DATA_DIR=../shared/data python benchmarks/bench_data.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import course_utils as cu


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def drain(loader) -> int:
    """Iterate over every batch, touching it so nothing is skipped lazily."""
    n = 0
    for x, _ in loader:
        n += len(x)
    return n


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print(
        f"machine: {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"data {cu.config.get_data_dir()}"
    )
    figures = {}
    for name, load in (("mnist", cu.load_mnist), ("cifar10", cu.load_cifar10)):
        figures[f"load_{name}_s"] = timed(load, args.repeats)
        print(f"load_{name}: {figures[f'load_{name}_s']:.2f} s (median of {args.repeats})")
    data = cu.load_mnist()
    fast = cu.TensorLoader(data.train, 64, data.mean, data.std, shuffle=True)
    classic = cu.loaders.classic_loader(data.train, data.mean, data.std, batch_size=64, shuffle=True)
    figures["tensor_loader_epoch_s"] = timed(lambda: drain(fast), args.repeats)
    figures["classic_loader_epoch_s"] = timed(lambda: drain(classic), max(1, args.repeats - 2))
    figures["speedup"] = figures["classic_loader_epoch_s"] / figures["tensor_loader_epoch_s"]
    n = len(data.train)
    for key in ("tensor_loader", "classic_loader"):
        seconds = figures[f"{key}_epoch_s"]
        print(f"{key}: one MNIST epoch ({n:,} images, batch 64) {seconds:.2f} s = {n / seconds:,.0f} img/s")
    print(f"in-memory loader speed-up: {figures['speedup']:.1f}x")
    return figures


if __name__ == "__main__":
    main()
