"""Every lesson in the ``cpu`` profile on fresh kernels: wall time, peak memory, self-checks, per CPU class.

    python benchmarks/bench_notebooks.py                   # every lesson; outputs not written
    python benchmarks/bench_notebooks.py --write           # ... and saved: the committed run
    python benchmarks/bench_notebooks.py --solutions 01 02  # some solutions notebooks
    python benchmarks/bench_notebooks.py --long-cells      # the committed outputs' cells of 30 s or more
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_notebooks.py  # AVX2, emulated

(with ``COURSE_DATA_DIR`` pointing at the data).

For each notebook it records the wall time, the kernel's peak resident memory, its longest cell (the time
the lessons' "⏱" lines quote) and the self-check lines the notebook printed; for the machine, the CPU
model, the cores, the instruction set PyTorch's kernels use
(``torch.backends.cpu.get_cpu_capability()``), and whether bf16 autocast and channels_last were used
(``cu.config.fast_bf16``, ``cu.config.fast_channels_last``, which follow that instruction
set). The table goes into ``RESULTS.md`` under the machine's CPU class: the rows of the notebooks run
replace theirs, the other rows of that class stay (each row says which run it comes from).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

import course_utils as cu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import run_notebooks

HERE = Path(__file__).resolve().parent
BUDGET_S, BUDGET_MB = 600, 1536  # what a lesson may take on the weakest common machine: 10 min, 1.5 GB
LONG_CELL_S = 30  # cells this long are listed in RESULTS.md ("Long cells"); each "⏱" line times one of them


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
    if cu.config.fast_bf16("cpu"):
        name += " BF16"
    emulated = os.environ.get("ATEN_CPU_CAPABILITY")
    return f"{name} (emulated: ATEN_CPU_CAPABILITY={emulated})" if emulated else name


def machine_line() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads, "
        f"kernels {cu.config.cpu_capability()}, bf16 autocast {cu.config.fast_bf16('cpu')}, "
        f"channels_last {cu.config.fast_channels_last('cpu')}"
    )


def self_checks(notebook) -> list[str]:
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            lines += [
                line for line in str(output.get("text", "")).splitlines() if line.startswith("self-check:")
            ]
    return lines


def cell_times(notebook) -> list[tuple[float, int, str]]:
    """(seconds, number among the code cells from 1, first line) of every executed code cell, from
    the timestamps the kernel client records in each cell's metadata."""
    times = []
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start, stop = (
                datetime.fromisoformat(stamps[key].replace("Z", "+00:00"))
                for key in ("iopub.execute_input", "shell.execute_reply")
            )
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            times.append(((stop - start).total_seconds(), number, first))
    return times


def longest_cell(notebook) -> tuple[float, int]:
    """The longest code cell's seconds and its number among the code cells (1-based)."""
    return max(((s, n) for s, n, _ in cell_times(notebook)), default=(0.0, 0))


def long_cells(paths: list[Path], minimum: float = LONG_CELL_S) -> list[str]:
    """A table of the committed outputs' code cells that took ``minimum`` seconds or more: what the
    lessons' "⏱" lines quote."""
    import nbformat

    lines = ["| notebook | code cell | time | starts with |", "| --- | --- | --- | --- |"]
    for path in paths:
        for seconds, number, first in cell_times(nbformat.read(path, as_version=4)):
            if seconds >= minimum:
                lines.append(f"| {path.name} | {number} | {seconds:.0f} s | `{first[:60]}` |")
    return lines


HEADER = [
    "| notebook | wall time | peak memory | longest cell | within 600 s and 1.5 GB | self-checks | run |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]


def rows(results: dict[str, run_notebooks.Run], when: str) -> dict[str, str]:
    """One table row per notebook, keyed by the notebook's name."""
    out = {}
    for name, run in results.items():
        checks = self_checks(run.notebook)
        passed = sum(line.endswith("passed") for line in checks)
        within = "yes" if run.seconds <= BUDGET_S and run.peak_mb <= BUDGET_MB else "**no**"
        seconds, number = longest_cell(run.notebook)
        cells = [
            name,
            f"{run.seconds:.0f} s",
            f"{run.peak_mb:,.0f} MB",
            f"{seconds:.0f} s (code cell {number})",
            within,
            f"{passed}/{len(checks)} passed",
            when,
        ]
        out[name] = "| " + " | ".join(cells) + " |"
    return out


def write_results(path: Path, cls: str, title: str, machine: str, new_rows: dict[str, str]) -> None:
    """Put ``new_rows`` into the table of this CPU class in RESULTS.md (added if missing), replacing
    the rows of the same notebooks and keeping the others."""
    begin, end = f"<!-- notebooks {cls}: begin -->", f"<!-- notebooks {cls}: end -->"
    text = path.read_text()
    old = _section(text, begin, end)
    kept = {}
    if old and HEADER[0] in old.group(1):
        for line in old.group(1).splitlines():
            name = line.split("|")[1].strip() if line.startswith("| ") else ""
            if name.endswith(".ipynb"):
                kept[name] = line
    merged = dict(sorted((kept | new_rows).items()))
    lines = [title, "", f"Machine of the latest run: {machine}.", "", *HEADER, *merged.values()]
    path.write_text(replace_section(text, begin, end, lines))


def _section(text: str, begin: str, end: str) -> re.Match | None:
    """The text between the markers ``begin`` and ``end`` (group 1), markers included, or None."""
    return re.search(re.escape(begin) + r"(.*?)" + re.escape(end), text, flags=re.DOTALL)


def replace_section(text: str, begin: str, end: str, lines: list[str]) -> str:
    """``text`` with ``lines`` between the markers, in place of what was there (appended if absent)."""
    block = "\n".join([begin, *lines, end])
    old = _section(text, begin, end)
    if old:
        return text[: old.start()] + block + text[old.end() :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


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
    p.add_argument(
        "--long-cells",
        action="store_true",
        help=f"no run: list the committed outputs' code cells that took {LONG_CELL_S} s or more",
    )
    args = p.parse_args(argv)
    os.environ["COURSE_PROFILE"] = "cpu"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    folder = run_notebooks.NOTEBOOKS / ("solutions" if args.solutions else "")
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    paths = [p for p in paths if not args.names or any(p.name.startswith(n) for n in args.names)]
    if args.long_cells:
        lines = long_cells(paths)
        print("\n".join(lines))
        if args.results:
            results = Path(args.results)
            begin, end = "<!-- long cells: begin -->", "<!-- long cells: end -->"
            results.write_text(replace_section(results.read_text(), begin, end, lines))
        return {}
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
    new_rows = rows(results, time.strftime("%Y-%m-%d"))
    print("\n".join([f"Machine: {machine_line()}.", "", *HEADER, *new_rows.values()]))
    if args.results and new_rows:
        kind = "solutions" if args.solutions else "lessons"
        title = f"### {kind.capitalize()}, CPU class {cls}"
        write_results(Path(args.results), f"{kind}, {cls}", title, machine_line(), new_rows)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (their rows were not written)")
    return results


if __name__ == "__main__":
    main()
