"""Re-execute the notebooks in place on fresh kernels, in order, and print each one's wall time.

    python -m course_utils.run_notebooks --profile cpu              # all notebooks
    python -m course_utils.run_notebooks --profile smoke 02 03      # some (by name prefix)

Outputs are written back into the notebooks (that is how the committed outputs are produced),
without tqdm's widget outputs: a saved progress bar shows nothing useful, the epoch lines stay.
``--check`` executes without writing, e.g. to time the smoke profile.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# Anything that would leak this machine into committed outputs.
MACHINE_PATH = re.compile(r"(/(?:root|home|Users|work|tmp)/[^\s'\"]*)")


def find(selection: list[str]) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selection)]
    if not paths:
        raise SystemExit(f"no notebook matches {selection} in {NOTEBOOKS}")
    return paths


def leaked_paths(nb) -> list[str]:
    """Machine paths found in the outputs (they must not be committed)."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            found += MACHINE_PATH.findall(text)
    return found


WIDGET = "application/vnd.jupyter.widget-view+json"


def drop_progress_bars(nb) -> None:
    """Remove tqdm's widget outputs: live bars mean nothing in a saved notebook (the epoch summary
    lines printed by the trainer stay)."""
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
    nb.metadata.pop("widgets", None)


def execute(path: Path, timeout: int, write: bool) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    tic = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - tic
    drop_progress_bars(nb)
    leaks = leaked_paths(nb)
    if leaks:
        raise SystemExit(f"{path.name}: machine paths in outputs, not written: {sorted(set(leaks))[:3]}")
    if write:
        nbformat.write(nb, path)
    return seconds


def main(argv=None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="notebook name prefixes, e.g. 01 02 (default: all)")
    p.add_argument("--profile", default=None, help="smoke, cpu or full (default: $COURSE_PROFILE)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.add_argument("--check", action="store_true", help="execute without writing the outputs back")
    args = p.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile  # the kernels inherit it
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    times = {}
    for path in find(args.names):
        times[path.name] = execute(path, args.timeout, write=not args.check)
        print(f"{path.name}: {times[path.name]:.1f} s", flush=True)
    print(f"total: {sum(times.values()):.1f} s ({os.environ.get('COURSE_PROFILE', 'default')} profile)")
    return times


if __name__ == "__main__":
    main()
