"""One training step under three glibc malloc settings: the speed and peak memory behind
``cu.configure_process``.

    python benchmarks/malloc_steps.py            # every model, every setting, 2 rounds
    python benchmarks/malloc_steps.py --rounds 3 unet

Settings (``mallopt``, Linux/glibc only): glibc's defaults; ``M_MMAP_THRESHOLD`` fixed at 16 MiB (large
activations go back to the system when freed); and that plus ``M_TRIM_THRESHOLD`` at 128 MiB (the free
top of the heap is kept for the next step), which is what ``course_utils._memory.hand_back_large_blocks``
sets. Each measurement runs in a fresh process (a process's malloc state and peak are its own), rounds
interleave the settings, and the figure is the median step time of 15 steps after one warm-up step, with
the process's peak resident memory. Run it on a quiet machine: results in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

SETTINGS = {  # name: (mmap threshold MiB, trim threshold MiB); 0 = glibc's default
    "glibc defaults": (0, 0),
    "mmap 16 MiB": (16, 0),
    "mmap 16 MiB + trim 32 MiB": (16, 32),
    "mmap 16 MiB + trim 64 MiB": (16, 64),
    "mmap 16 MiB + trim 128 MiB": (16, 128),
}
MODELS = {  # name: (constructor source, batch, image size, task)
    "unet": ("cu.models.UNet(3, 1, base_channels=8, batch_norm=True)", 16, 128, "mask"),
    "resnet14": ("cu.ResNet(block='basic', layers=[2, 2, 2])", 256, 32, "class"),
    "resnet9": ("cu.models.ResNet9()", 32, 32, "class"),
}
STEPS = 15

_CHILD = """
import ctypes, os, resource, statistics, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
libc = ctypes.CDLL("libc.so.6")
if {mmap}: libc.mallopt(-3, {mmap} * 2**20)  # M_MMAP_THRESHOLD
if {trim}: libc.mallopt(-1, {trim} * 2**20)  # M_TRIM_THRESHOLD
import torch
import course_utils as cu
torch.manual_seed(0)
model = {build}
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.randn({batch}, 3, {size}, {size})
if "{task}" == "mask":
    y, criterion = (torch.rand({batch}, 1, {size}, {size}) > 0.5).float(), torch.nn.BCEWithLogitsLoss()
else:
    y, criterion = torch.randint(0, 10, ({batch},)), torch.nn.CrossEntropyLoss()
times = []
for _ in range({steps} + 1):
    tic = time.perf_counter()
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    times.append(time.perf_counter() - tic)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{statistics.median(times[1:]):.3f}} {{peak:.0f}}")
"""


def measure(model: str, setting: str) -> tuple[float, float]:
    """Median step time (s) and peak resident memory (MB) of one fresh process."""
    build, batch, size, task = MODELS[model]
    mmap, trim = SETTINGS[setting]
    code = _CHILD.format(mmap=mmap, trim=trim, build=build, batch=batch, size=size, task=task, steps=STEPS)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    step, peak = out.stdout.split()[-2:]
    return float(step), float(peak)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help=f"any of {', '.join(MODELS)} (default: all)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions (default 2)")
    args = p.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    if not sys.platform.startswith("linux"):
        p.error("mallopt is glibc's: run this on Linux")
    print("| model | setting | median step (s), by round | peak (MB), by round |\n| --- | --- | --- | --- |")
    for model in args.models or list(MODELS):
        rows = {setting: [] for setting in SETTINGS}
        for _ in range(args.rounds):
            for setting in SETTINGS:
                rows[setting].append(measure(model, setting))
        for setting, runs in rows.items():
            steps = ", ".join(f"{step:.3f}" for step, _ in runs)
            peaks = ", ".join(f"{peak:,.0f}" for _, peak in runs)
            print(f"| {model} | {setting} | {steps} | {peaks} |", flush=True)


if __name__ == "__main__":
    main()
