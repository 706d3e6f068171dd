"""The ways a student starts a lesson, each notebook executed once per path:

- **Colab** (marker ``colab``), which is also nbval's run: only the notebook file and the pip-installed
  package exist. The package is built as a wheel and installed into a fresh virtual environment that
  cannot see the checkout (torch and the other dependencies come from the test environment's
  site-packages, as Colab provides them); each notebook is copied alone into an empty folder and
  executed there by nbval, in the ``smoke`` profile, with a kernel of that environment. nbval fails a
  cell that raises and compares the cells marked ``# NBVAL_CHECK_OUTPUT`` with the committed outputs
  (``--nbval-lax``, sanitized by ``tests/nbval_sanitize.cfg``); a plugin fails a cell whose output shows
  a machine path. The notebook must leave its folder as it found it.
- **A GPU** (marker ``dryrun``): CUDA means the ``full`` profile. Its code path runs here on the CPU as
  a dry run (``COURSE_DRY_RUN=1``: every loader capped at two batches, every training batch at 32
  images, every training at two epochs), so what breaks only in ``full`` (recipe fields, shapes,
  checkpoints, TTA) breaks here; the self-checks say they are skipped. The lessons run it; the
  solutions call the same package code with the same profile fields and run in ``smoke`` above.
- **The repository checkout** (JupyterLab started in ``notebooks/``): tests/test_browser.py opens every
  committed notebook there, and the unit tests import the package from the checkout. Instructors can
  re-execute the notebooks in the checkout with ``python -m pytest notebooks/`` (nbval, as configured in
  pyproject.toml).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import run_notebooks

from tests.conftest import committed_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = run_notebooks.find([])
LESSONS = [p for p in NOTEBOOKS if p.parent.name != "solutions"]
SELF_CHECK = "self-check:"
NOTEBOOK_TIMEOUT_S = 900  # one notebook's whole nbval run
CELL_TIMEOUT_S = 900  # one cell of a dry run

# The nbval runs' own pytest configuration, written beside the notebooks' folders, never in them.
NBVAL_INI = """[pytest]
addopts = -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
machine_path = {pattern}
"""


def _outer_site_packages() -> list[str]:
    """The site-packages folders this interpreter imports from (a virtual environment's, the system's)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.fixture(scope="session")
def colab_python(tmp_path_factory) -> Path:
    """A virtual environment with the course installed from its wheel, and nothing of the checkout.

    The test environment's packages (torch, nbval, ...) are reached through a ``.pth`` file that lists
    its site-packages folders, so this works when pytest itself runs in a virtual environment (``python
    -m venv --system-site-packages`` from inside one would see the base interpreter's packages instead).
    A plain path in a ``.pth`` does not run that folder's own ``.pth`` files, so an editable install of
    the checkout stays out of sight."""
    base = tmp_path_factory.mktemp("colab")
    wheels = base / "wheels"
    source = base / "source"  # the wheel is built from a copy: no build/ folder in the checkout to go stale
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "course_utils", source / "course_utils", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)]
    # with this environment's setuptools (works offline); where it cannot build a wheel (an old setuptools
    # without `wheel`, as in a new Python 3.11 venv), with pip's own build environment
    if subprocess.run([*pip_wheel, "--no-build-isolation"], cwd=base, capture_output=True).returncode != 0:
        subprocess.run(pip_wheel, check=True, cwd=base)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(own, "_test_environment.pth").write_text("\n".join(_outer_site_packages()) + "\n")
    wheel = next(wheels.glob("course_utils-*.whl"))
    install = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, cwd=base)
    where = subprocess.run(
        [python, "-c", "import course_utils, torch, nbval; print(course_utils.__file__)"],
        cwd=base,
        capture_output=True,
        text=True,
    )
    assert str(venv) in where.stdout, f"the venv sees another course_utils: {where.stdout}{where.stderr}"
    return python


@pytest.fixture(scope="session")
def nbval_folder(tmp_path_factory) -> Path:
    """Where the nbval runs start: their pytest.ini, the sanitizer and the machine-path plugin."""
    folder = tmp_path_factory.mktemp("nbval")
    (folder / "pytest.ini").write_text(NBVAL_INI.format(pattern=run_notebooks.MACHINE_PATH.pattern))
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", folder / "nbval_sanitize.cfg")
    shutil.copy(ROOT / "tests" / "nbval_machine_paths.py", folder / "conftest.py")
    return folder


def test_the_nbval_run_fails_an_error_a_machine_path_and_a_changed_checked_output(colab_python, nbval_folder):
    """The nbval run on a made notebook: a clean cell passes; a cell that raises fails; a cell that prints a
    machine path fails (the plugin); a ``# NBVAL_CHECK_OUTPUT`` cell whose output differs from the saved one
    fails (nbval's comparison, which needs the saved cell to have run: an execution count)."""
    alone = nbval_folder / "planted"
    alone.mkdir()
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2 + 2)", execution_count=4)
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="5\n")]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("print(1 + 1)", execution_count=1),
        nbformat.v4.new_code_cell("1 / 0", execution_count=2),
        nbformat.v4.new_code_cell("print('/home/me/x')", execution_count=3),
        checked,
    ]
    nbformat.write(nb, alone / "planted.ipynb")
    done = subprocess.run(
        [colab_python, "-m", "pytest", "planted/planted.ipynb"],
        cwd=nbval_folder,
        capture_output=True,
        text=True,
        timeout=NOTEBOOK_TIMEOUT_S,
    )
    assert done.returncode == 1 and "3 failed, 1 passed" in done.stdout, done.stdout[-2000:]
    assert "Cell execution caused an exception" in done.stdout
    assert "machine paths in the outputs: ['/home/me/x']" in done.stdout
    assert "Cell outputs differ" in done.stdout


@pytest.mark.colab
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_alone_with_the_installed_package(colab_python, nbval_folder, path):
    alone = nbval_folder / path.stem
    alone.mkdir()
    shutil.copy(path, alone / path.name)
    env = os.environ | {"COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg"}
    for name in ("PYTHONPATH", "COURSE_DRY_RUN"):
        env.pop(name, None)
    done = subprocess.run(
        [colab_python, "-m", "pytest", "-q", f"{path.stem}/{path.name}"],
        cwd=nbval_folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=NOTEBOOK_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cells = sum(c.cell_type == "code" for c in committed_notebook(path).cells)
    ran = re.search(r"\b(\d+) passed\b", done.stdout)
    assert ran and int(ran[1]) == cells, (
        f"nbval ran {ran and ran[1]} of the {cells} code cells: {done.stdout[-2000:]}"
    )
    assert sorted(p.name for p in alone.iterdir()) == [path.name], "the notebook wrote files beside itself"


@pytest.mark.dryrun
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_full_profile_dry_run(monkeypatch, path):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_DRY_RUN", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run = run_notebooks.execute(path, timeout=CELL_TIMEOUT_S, write=False)
    text = "\n".join(str(o.get("text", "")) for c in run.notebook.cells for o in c.get("outputs", []))
    assert "profile: full" in text and "dry run: 2 batches per loader, training batches of at most 32" in text
    checks = [line for line in text.splitlines() if line.startswith(SELF_CHECK)]
    assert all("skipped (dry run" in line for line in checks), checks
    lesson = committed_notebook(path)
    if any("profile.check(" in c.source for c in lesson.cells if c.cell_type == "code"):
        assert checks, "the notebook's self-checks did not run"
