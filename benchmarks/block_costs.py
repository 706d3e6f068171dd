"""What lesson 09's blocks cost on this CPU: parameters, multiply-adds, measured time, and the rate.

    python benchmarks/block_costs.py                    # the blocks at 64 channels, 16x16, then BlockNets
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/block_costs.py   # AVX2 kernels

Each block maps (N, 64, 16, 16) to the same shape (stride 1); each ``BlockNet`` family is sized to
about the same multiply-adds per CIFAR-10 image (``widths_for_macs``). Times are warm forward passes
(``cu.models.forward_time``: the median of repeated runs) at batch 1 and at batch 128, in evaluation
mode, with the threads PyTorch has; "GMAC/s" is the multiply-adds of a batch over its time, the rate at
which a block turns its arithmetic into work. It prints a table and the machine; it writes nothing.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn as nn
from bench_notebooks import cpu_model

from course_utils.config import cpu_capability
from course_utils.models import BlockNet, measure_cost
from course_utils.models.blocknet import FAMILIES, widths_for_macs
from course_utils.models.blocks import (
    Bottleneck,
    ConvNeXtBlock,
    DepthwiseSeparable,
    InvertedResidual,
    SqueezeExcite,
)

C, SIZE = 64, 16  # the blocks' channels and feature-map size
BLOCKS = {
    "dense 3x3 conv": lambda: nn.Conv2d(C, C, 3, padding=1, bias=False),
    "depthwise 3x3 conv": lambda: nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False),
    "pointwise 1x1 conv": lambda: nn.Conv2d(C, C, 1, bias=False),
    "bottleneck (width C/4)": lambda: Bottleneck(C, C),
    "depthwise-separable": lambda: DepthwiseSeparable(C, C),
    "inverted residual (x6)": lambda: InvertedResidual(C, C, expand=6),
    "squeeze-excite (C/4)": lambda: SqueezeExcite(C, C // 4),
    "ConvNeXt block": lambda: ConvNeXtBlock(C),
}


def row(name: str, model: nn.Module, input_size, min_run_time: float) -> str:
    cost = measure_cost(model, input_size, (1, 128), repeats=1, min_run_time=min_run_time)
    one, batch = cost["seconds"][1][0], cost["seconds"][128][0]
    return (
        f"| {name} | {cost['params']:,} | {cost['macs'] / 1e6:.2f} M | {one * 1e3:.3f} ms | "
        f"{batch * 1e6:.1f} µs | {cost['gmacs'][128]:.1f} |"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--macs", type=float, default=6e6, help="the BlockNets' budget per image (default 6e6)")
    p.add_argument("--min-run-time", type=float, default=1.0, help="seconds per timing (default 1)")
    args = p.parse_args(argv)
    print(
        f"{cpu_model()}, {torch.get_num_threads()} threads, "
        f"{cpu_capability()} kernels, torch {torch.__version__}\n"
    )
    header = "| {} | parameters | multiply-adds | batch 1 | batch 128, per image | GMAC/s at 128 |"
    print(header.format(f"block, {C} channels, {SIZE}x{SIZE}"))
    print("| --- | --- | --- | --- | --- | --- |")
    for name, build in BLOCKS.items():
        print(row(name, build().eval(), (C, SIZE, SIZE), args.min_run_time), flush=True)
    print()
    print(header.format(f"BlockNet, about {args.macs / 1e6:g} M multiply-adds, 3x32x32"))
    print("| --- | --- | --- | --- | --- | --- |")
    for family in FAMILIES:
        widths = widths_for_macs(family, int(args.macs))
        net = BlockNet(family, widths).eval()
        print(row(f"{family} {widths}", net, (3, 32, 32), args.min_run_time), flush=True)


if __name__ == "__main__":
    main()
