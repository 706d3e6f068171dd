"""Shared fixtures: tiny archives in the course's format, built in a temporary folder; the committed
notebooks, read once; one headless Chromium. And the two tiers of the suite.

Unit tests never need the real data. Tests marked ``real_data`` use ``$COURSE_DATA_DIR`` and are
skipped when it does not hold the real archives.

**Tiers.** ``python -m pytest -m "not slow"`` is the fast tier of a contributor's edit loop: the unit tests
and the committed-notebook checks. A test is ``slow`` (marked here, at collection) when it executes
notebooks (``colab``, ``dryrun``), drives a browser or the built website (``browser``; the fixtures
``chromium``, ``site``), starts ``torchrun`` (``torchrun``) or re-measures on the real archives
(``real_data``). ``python -m pytest`` runs both tiers, as CI does.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

# the authoring tools (tools/run_notebooks.py, ...) are scripts beside the package, not part of it
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # what the setup cells set; the CLI re-executes without it

REAL_DATA = Path(os.environ.get("COURSE_DATA_DIR", "/nonexistent"))


@functools.cache
def _committed(path: Path):
    return nbformat.read(path, as_version=4)


def committed_notebook(path: Path, copy_for_changes: bool = False):
    """The committed notebook at ``path``, read from disk once per test run. Tests read it as it is;
    one that changes it (to plant a wrong claim, say) asks for its own copy."""
    nb = _committed(Path(path).resolve())
    return copy.deepcopy(nb) if copy_for_changes else nb


def has_real(name: str) -> bool:
    return (REAL_DATA / name).exists()


def fake_classification(rng, n_train, n_test, shape, classes=10):
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        arrays[f"x_{part}"] = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        arrays[f"y_{part}"] = (np.arange(n) % classes).astype(np.uint8)  # balanced classes
    return arrays


BREEDS = ["Abyssinian", "Bengal", "american_bulldog"]


def fake_pets(rng, n_train=20, n_test=10):
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        arrays |= {
            f"x_{part}": rng.integers(0, 256, size=(n, 128, 128, 3), dtype=np.uint8),
            f"m_{part}": rng.integers(1, 4, size=(n, 128, 128), dtype=np.uint8),
            f"names_{part}": np.asarray([f"{BREEDS[i % 3]}_{part}{i}" for i in range(n)]),
            f"orig_hw_{part}": np.full((n, 2), 300, dtype=np.int32),
            f"breed_{part}": np.asarray([BREEDS[i % 3] for i in range(n)]),
            f"species_{part}": np.asarray([2 if i % 3 == 2 else 1 for i in range(n)], dtype=np.uint8),
            f"class_id_{part}": np.full(n, 6, dtype=np.uint8),
        }
    arrays["breed_names"] = np.asarray(BREEDS)
    return arrays


@pytest.fixture
def tiny_data_dir(tmp_path, monkeypatch) -> Path:
    """A data directory with small MNIST, CIFAR-10 and Pets archives; COURSE_DATA_DIR points at it."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", **fake_classification(rng, 300, 100, (28, 28)))
    np.savez(tmp_path / "cifar10.npz", **fake_classification(rng, 300, 100, (32, 32, 3)))
    (tmp_path / "pets").mkdir()
    np.savez(tmp_path / "pets" / "pets_seg.npz", **fake_pets(rng))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


# Headless Chromium for the browser tests (tests/test_browser.py, tests/test_site.py): Debian's package.
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root (CI containers)
    "--disable-gpu",
    "--disable-background-networking",  # without these, Chromium keeps calling home on a closed network
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="session")
def chromium_exe() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip('browser test needs the playwright package: pip install -e ".[dev,docs]"')
    exe = chromium_path()
    if exe is None:
        pytest.skip("browser test needs Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    return exe


@pytest.fixture(scope="session")
def chromium(chromium_exe):
    """One headless Chromium for the whole run: Playwright's sync API allows one instance per thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SLOW_MARKERS = {"colab", "dryrun", "browser", "torchrun", "real_data"}
SLOW_FIXTURES = {"chromium", "site", "colab_python"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        markers = {m.name for m in item.iter_markers()}
        fixtures = set(getattr(item, "fixturenames", ()))
        if markers & SLOW_MARKERS or SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)
        if "chromium" in fixtures:  # with pytest-xdist (--dist loadgroup): one worker, one browser
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_configure(config):
    """Under pytest-xdist, each worker (and every notebook kernel or process it starts) computes on one
    thread: two workers on two cores, not four threads fighting over them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
