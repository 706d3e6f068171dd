"""Re-execute notebooks on fresh kernels, in order, and print each one's wall time and peak memory.

    python tools/run_notebooks.py --profile cpu                 # all lessons and solutions, in place
    python tools/run_notebooks.py --profile smoke 02 03         # some (by name prefix)
    python tools/run_notebooks.py --check path/to/01_intro.ipynb  # any file, outputs not written

Outputs are written back into the notebooks (that is how the committed outputs are produced), without
tqdm's widget outputs: a saved progress bar shows nothing useful, the epoch lines stay. Outputs that
would leak a machine path are refused. ``--check`` executes without writing.

The peak memory is the kernel process's peak resident set size (``ru_maxrss``), read from inside the
kernel after the last cell.

Each written notebook carries a stamp in its metadata (``metadata["course"]``, see :func:`stamp`): the
profile it ran in, the recipes its code names, a digest of that profile's values and those recipes as
it runs them, and a digest of the package's code. ``tests/test_notebooks.py`` compares them, so a
solution executed with other package code than its lesson, or a notebook whose profile values or
recipes have changed since it ran (a stale notebook), fails the tests.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Anything that would leak this machine into committed outputs.
MACHINE_PATH = re.compile(r"(/(?:root|home|Users|work|tmp)/[^\s'\"]*)")
WIDGET = "application/vnd.jupyter.widget-view+json"
PEAK_MARKER = "__course_peak_rss_kb__"
PEAK_CELL = (
    "import resource, sys\n"
    "_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == 'darwin' else 1)\n"
    f"print('{PEAK_MARKER}', _kb)"
)


def find(selection: list[str]) -> list[Path]:
    """Notebooks by name prefix (lessons, then solutions), or given as paths to .ipynb files."""
    paths = [Path(s) for s in selection if s.endswith(".ipynb")]
    prefixes = [s for s in selection if not s.endswith(".ipynb")]
    if prefixes or not selection:
        found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(
            NOTEBOOKS.glob("solutions/[0-9][0-9]_*.ipynb")
        )
        paths += [p for p in found if not prefixes or any(p.name.startswith(s) for s in prefixes)]
    missing = [p for p in paths if not p.is_file()]
    if not paths or missing:
        raise SystemExit(f"no notebook matches {selection} (looked in {NOTEBOOKS}); missing: {missing}")
    return paths


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _string_patterns(source: str) -> list[re.Pattern]:
    """Every string constant of a cell's code as a pattern: "unet_pets" as itself, f"skip_{kind}" as
    skip_ followed by any name (f-strings with fewer than 3 fixed characters are skipped)."""
    magic = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)  # IPython magics and shell lines: no strings
    code = magic.sub(r"\1pass", source)
    patterns = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            patterns.append(re.compile(re.escape(node.value)))
        elif isinstance(node, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z0-9_]*" for v in node.values]
            fixed = sum(len(v.value) for v in node.values if isinstance(v, ast.Constant))
            if fixed >= 3:
                patterns.append(re.compile("".join(parts)))
    return patterns


def recipes_used(nb) -> list[str]:
    """The registered recipes a notebook's code names: every string that spells a recipe's name, and
    every f-string that matches one, as ``RECIPES[f"breeds_{setting}"]`` matches the four
    ``breeds_*``. Over-inclusive by design: a recipe named anywhere in the code counts as used."""
    import course_utils as cu

    patterns = [p for c in nb.cells if c.cell_type == "code" for p in _string_patterns(c.source)]
    return sorted(name for name in cu.RECIPES if any(p.fullmatch(name) for p in patterns))


# The profile fields that every run depends on (the package reads them: caps, dry runs, the self-checks).
GLOBAL_FIELDS = ("name", "max_train", "max_eval", "max_batches", "max_train_batch")


def profile_fields_used(nb) -> list[str]:
    """The profile fields a notebook's run depends on: :data:`GLOBAL_FIELDS`, and every field its code
    reads as ``profile.<field>`` (a lesson's own rows of the profile table)."""
    import dataclasses

    import course_utils as cu

    names = {f.name for f in dataclasses.fields(cu.config.Profile)}
    read = {m for c in nb.cells if c.cell_type == "code" for m in re.findall(r"\bprofile\.(\w+)", c.source)}
    return sorted((read & names) | set(GLOBAL_FIELDS))


def stamp(
    profile_name: str, recipes: list[str], dry_run: bool = False, fields: list[str] | None = None
) -> dict:
    """What a notebook run depends on, as short digests: the profile's ``fields`` (None: all of them; a
    notebook's are :func:`profile_fields_used`) with the ``recipes`` it names (:func:`recipes_used`) as
    that profile runs them (``settings``), and the package's source files and checkpoints (``package``).
    A recipe or a profile field that a notebook does not use can change (or a new lesson's arrive)
    without making the notebook stale."""
    import dataclasses

    import course_utils as cu

    profile = cu.get_profile(profile_name, dry_run=dry_run)
    unknown = sorted(set(recipes) - set(cu.RECIPES))
    if unknown:
        raise ValueError(f"stamp: recipes {unknown} are not registered in course_utils.RECIPES")
    ran = {name: cu.RECIPES[name].for_profile(profile).as_dict() for name in sorted(recipes)}
    values = dataclasses.asdict(profile)
    if fields is not None:
        values = {name: values[name] for name in fields}
    settings = json.dumps([values, ran], sort_keys=True, default=str)
    package = ROOT / "course_utils"
    files = sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".pt", ".json"))
    code = "".join(f"{p.relative_to(package)}:{_digest(p.read_bytes().hex())}\n" for p in files)
    return {
        "profile": profile.name,
        "recipes": sorted(recipes),
        "settings": _digest(settings),
        "package": _digest(code),
    }


def leaked_paths(nb) -> list[str]:
    """Machine paths found in the outputs (they must not be committed)."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            found += MACHINE_PATH.findall(text)
    return found


def drop_progress_bars(nb) -> None:
    """Remove tqdm's widget outputs: live bars mean nothing in a saved notebook (the epoch summary
    lines printed by the trainer stay)."""
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
    nb.metadata.pop("widgets", None)


@dataclass
class Run:
    """One execution: wall time, the kernel's peak memory, and the executed notebook."""

    seconds: float
    peak_mb: float
    notebook: object  # nbformat.NotebookNode


def execute(path: Path, timeout: int = 1800, write: bool = False) -> Run:
    """Run ``path`` on a fresh kernel in its own folder; return the wall time, peak memory and outputs.

    With ``write``, the outputs are saved into the file, stamped as the package and settings were when
    the run started; if they changed during the run, nothing is written. A cell error raises nbclient's
    ``CellExecutionError`` (naming the cell); nothing is written then.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    profile, dry_run = os.environ.get("COURSE_PROFILE", "cpu"), bool(os.environ.get("COURSE_DRY_RUN"))
    recipes, fields = recipes_used(nb), profile_fields_used(nb)  # the code cells do not change while they run
    before = stamp(profile, recipes, dry_run, fields) if write else None
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    tic = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - tic
    probe = nb.cells.pop()
    peak_kb = int("".join(o.get("text", "") for o in probe.outputs).split(PEAK_MARKER)[1].split()[0])
    drop_progress_bars(nb)
    leaks = leaked_paths(nb)
    if leaks:
        raise SystemExit(f"{path.name}: machine paths in outputs, not written: {sorted(set(leaks))[:3]}")
    if write:
        if stamp(profile, recipes, dry_run, fields) != before:  # the stamp must name what ran
            raise SystemExit(
                f"{path.name}: the package or its settings changed while the notebook ran; not written. "
                "Re-run it once the edits are done."
            )
        nb.metadata["course"] = before
        nbformat.write(nb, path)
    return Run(seconds, peak_kb / 1024, nb)


def main(argv=None) -> dict[str, Run]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "names", nargs="*", help="notebook name prefixes (e.g. 01 02) or .ipynb paths (default: all)"
    )
    p.add_argument("--profile", default=None, help="smoke, cpu or full (default: $COURSE_PROFILE)")
    p.add_argument("--dry-run", action="store_true", help="COURSE_DRY_RUN=1: two batches per loader")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.add_argument("--check", action="store_true", help="execute without writing the outputs back")
    args = p.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile  # the kernels inherit it
    if args.dry_run:
        os.environ["COURSE_DRY_RUN"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    results = {}
    for path in find(args.names):
        run = results[path.name] = execute(path, args.timeout, write=not args.check)
        print(f"{path.name}: {run.seconds:.1f} s, peak {run.peak_mb:,.0f} MB", flush=True)
    total = sum(run.seconds for run in results.values())
    print(f"total: {total:.1f} s ({os.environ.get('COURSE_PROFILE', 'default')} profile)")
    return results


if __name__ == "__main__":
    main()
