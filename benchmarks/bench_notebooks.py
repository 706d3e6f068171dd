"""Every lesson in the ``cpu`` profile on fresh kernels: wall time, peak memory, self-checks, per CPU class.

    python benchmarks/bench_notebooks.py                   # every lesson; outputs not written
    python benchmarks/bench_notebooks.py --write           # ... and saved: the committed run
    python benchmarks/bench_notebooks.py --solutions 01 02  # some solutions notebooks
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_notebooks.py  # AVX2, emulated

(with ``COURSE_DATA_DIR`` pointing at the data).

For each notebook it records the wall time, the kernel's peak resident memory and the self-check lines the
notebook printed; for the machine, the CPU model, the cores, the instruction set PyTorch's kernels use
(``torch.backends.cpu.get_cpu_capability()``), and whether bf16 autocast and channels_last were used
(``cu.fast_bf16``, ``cu.fast_channels_last``, which follow that instruction set). The table goes into
``RESULTS.md`` under the machine's CPU class, replacing the earlier table of that class only.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from pathlib import Path

import torch

import course_utils as cu
from course_utils import run_notebooks

HERE = Path(__file__).resolve().parent
BUDGET_S, BUDGET_MB = 600, 1536  # what a lesson may take on the weakest common machine: 10 min, 1.5 GB


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_class() -> str:
    """The class the times belong to: the instruction set the kernels use, and bf16 where it is fast."""
    capability = cu.config.cpu_capability()
    name = "AVX-512" if capability.startswith("AVX512") else capability
    if cu.fast_bf16("cpu"):
        name += " BF16"
    emulated = os.environ.get("ATEN_CPU_CAPABILITY")
    return f"{name} (emulated: ATEN_CPU_CAPABILITY={emulated})" if emulated else name


def machine_line() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads, "
        f"kernels {cu.config.cpu_capability()}, bf16 autocast {cu.fast_bf16('cpu')}, "
        f"channels_last {cu.fast_channels_last('cpu')}"
    )


def self_checks(notebook) -> list[str]:
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            lines += [
                line for line in str(output.get("text", "")).splitlines() if line.startswith("self-check:")
            ]
    return lines


def table(results: dict[str, run_notebooks.Run]) -> list[str]:
    rows = [
        "| notebook | wall time | peak memory | within 600 s and 1.5 GB | self-checks |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, run in results.items():
        checks = self_checks(run.notebook)
        passed = sum(line.endswith("passed") for line in checks)
        within = "yes" if run.seconds <= BUDGET_S and run.peak_mb <= BUDGET_MB else "**no**"
        cells = [
            name,
            f"{run.seconds:.0f} s",
            f"{run.peak_mb:,.0f} MB",
            within,
            f"{passed}/{len(checks)} passed",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    total = sum(run.seconds for run in results.values())
    rows.append(f"| total | {total:.0f} s | | | |")
    return rows


def write_results(path: Path, cls: str, lines: list[str]) -> None:
    """Replace (or add) the section of this CPU class in RESULTS.md."""
    begin, end = f"<!-- notebooks {cls}: begin -->", f"<!-- notebooks {cls}: end -->"
    block = "\n".join([begin, *lines, end])
    text = path.read_text()
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv=None) -> dict[str, run_notebooks.Run]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="notebook name prefixes (default: every lesson)")
    p.add_argument("--solutions", action="store_true", help="the solutions notebooks instead of the lessons")
    p.add_argument(
        "--write", action="store_true", help="save the outputs into the notebooks (a committed run)"
    )
    p.add_argument(
        "--results", default=str(HERE / "RESULTS.md"), help="where the table goes ('' for nowhere)"
    )
    args = p.parse_args(argv)
    os.environ["COURSE_PROFILE"] = "cpu"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    folder = run_notebooks.NOTEBOOKS / ("solutions" if args.solutions else "")
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    paths = [p for p in paths if not args.names or any(p.name.startswith(n) for n in args.names)]
    cls = cpu_class()
    print(f"CPU class: {cls} | {machine_line()}", flush=True)
    results = {}
    failed = []
    for path in paths:
        try:
            results[path.name] = run = run_notebooks.execute(path, write=args.write)
        except Exception as error:  # one failed notebook must not cost the others' runs
            failed.append(path.name)
            print(f"{path.name}: FAILED, nothing written: {str(error).strip()[-2000:]}", flush=True)
            continue
        print(f"{path.name}: {run.seconds:.1f} s, peak {run.peak_mb:,.0f} MB", flush=True)
        for line in self_checks(run.notebook):
            print(f"  {line}", flush=True)
    lines = [f"Machine: {machine_line()}.", "", *table(results)]
    print("\n".join(lines))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (their tables were not written)")
    if args.results and len(paths) > 1:
        kind = "solutions" if args.solutions else "lessons"
        write_results(
            Path(args.results), f"{kind}, {cls}", [f"### {kind.capitalize()}, CPU class {cls}", "", *lines]
        )
    return results


if __name__ == "__main__":
    main()
