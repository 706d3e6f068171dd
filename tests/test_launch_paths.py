"""The ways a student starts a lesson, besides the repository checkout that nbval covers:

- **Colab**: only the notebook file and the pip-installed package exist. The package is built as a wheel
  and installed into a fresh virtual environment that cannot see the checkout (torch and the other
  dependencies come from the system's site-packages, as Colab provides them); each notebook is copied
  alone into an empty folder and executed there in the ``smoke`` profile.
- **A GPU**: CUDA means the ``full`` profile. Its code path runs here on the CPU as a dry run
  (``COURSE_DRY_RUN=1``: every loader capped at two batches, every training at two epochs), so what breaks
  only in ``full`` (recipe fields, shapes, checkpoints, TTA) breaks here; the self-checks say they are
  skipped. The lessons run it; the solutions call the same package code with the same profile fields, and
  nbval runs them in ``smoke``, so a second full-profile pass over them would cost CI time for little.

Both execute notebooks once more, so they are marked (``colab``, ``dryrun``); CI runs them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = run_notebooks.find([])
LESSONS = [p for p in NOTEBOOKS if p.parent.name != "solutions"]
SELF_CHECK = "self-check:"


@pytest.fixture(scope="session")
def colab_python(tmp_path_factory) -> Path:
    """A virtual environment with the course installed from its wheel, and nothing of the checkout."""
    base = tmp_path_factory.mktemp("colab")
    wheels = base / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        cwd=base,
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("course_utils-*.whl"))
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    where = subprocess.run(
        [python, "-c", "import course_utils; print(course_utils.__file__)"],
        cwd=base,
        capture_output=True,
        text=True,
    )
    assert str(venv) in where.stdout, f"the venv sees another course_utils: {where.stdout}{where.stderr}"
    return python


@pytest.mark.colab
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_alone_with_the_installed_package(colab_python, tmp_path, path):
    alone = tmp_path / path.name
    shutil.copy(path, alone)
    env = os.environ | {"COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [colab_python, "-m", "course_utils.run_notebooks", "--check", str(alone)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "the notebook wrote files beside itself"


@pytest.mark.dryrun
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_full_profile_dry_run(monkeypatch, path):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_DRY_RUN", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run = run_notebooks.execute(path, timeout=900, write=False)
    text = "\n".join(str(o.get("text", "")) for c in run.notebook.cells for o in c.get("outputs", []))
    assert "profile: full" in text and "dry run: 2 batches per loader" in text
    checks = [line for line in text.splitlines() if line.startswith(SELF_CHECK)]
    assert all("skipped (dry run" in line for line in checks), checks
    lesson = nbformat.read(path, as_version=4)
    if any("profile.check(" in c.source for c in lesson.cells if c.cell_type == "code"):
        assert checks, "the notebook's self-checks did not run"
