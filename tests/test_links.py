"""One repository address (pyproject.toml's [project.urls]) for every Colab, Binder and install link, and
the diagrams carried inside the notebooks: tools/sync_notebooks.py keeps them in step."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import committed_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sync_notebooks  # noqa: E402


def test_notebooks_and_readme_follow_the_repository_address():
    assert sync_notebooks.check() == []  # `python tools/sync_notebooks.py` fixes what this lists


def test_every_notebook_links_its_own_colab_page():
    repo, pin = sync_notebooks.repository(), sync_notebooks.current_pin()
    for path in sync_notebooks.notebooks():
        nb = committed_notebook(path)
        assert sync_notebooks.colab_url(repo, path) in nb.cells[0].source, path.name
        install = next(c.source for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source)
        assert f"git+https://github.com/{repo}@{pin}" in install, path.name
    readme = (ROOT / "README.md").read_text()
    assert f"mybinder.org/v2/gh/{repo}/" in readme and f"colab.research.google.com/github/{repo}/" in readme


def test_a_fork_changes_the_address_with_one_command(tmp_path):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("notebooks", "figures", "tools", "docs"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    fork = "https://github.com/someone/their-fork"
    run = [sys.executable, str(tmp_path / "tools" / "sync_notebooks.py")]
    subprocess.run([*run, "--set-repository", fork], check=True, capture_output=True)
    assert subprocess.run([*run, "--check"], capture_output=True).returncode == 0
    readme = (tmp_path / "README.md").read_text()
    assert "someone/their-fork" in readme and "cnn-course/cnn-with-pytorch" not in readme
    assert "https://someone.github.io/their-fork/" in readme and "cnn-course.github.io" not in readme
    instructors = (tmp_path / "docs" / "instructors.md").read_text()
    assert "github.com/someone/their-fork/tree/main/benchmarks/" in instructors
    assert "cnn-course/cnn-with-pytorch" not in instructors
    first = nbformat.read(next((tmp_path / "notebooks").glob("01_*.ipynb")), as_version=4)
    others = "https://cs231n.github.io/convolutional-networks/", "https://poloclub.github.io/cnn-explainer/"
    assert all(site in nbformat.writes(first) for site in others)  # other projects keep their address
    assert "github/someone/their-fork/blob/main/notebooks/01_" in first.cells[0].source


def test_every_notebook_installs_the_package_it_is_tested_with():
    """One pin in every Colab install cell, and the package at that commit is the package here (HEAD):
    the notebooks were executed and are tested with it. After committing a change to course_utils/,
    run `python tools/sync_notebooks.py --pin HEAD` and commit the notebooks."""
    pins = sync_notebooks.pins()
    fix = "commit course_utils/, run `python tools/sync_notebooks.py --pin HEAD`, commit the notebooks"
    pin = sync_notebooks.current_pin(pins)
    assert set(pins.values()) == {pin}, f"one pin in every notebook: {fix}\n{pins}"
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the repository's history (a clone) to compare the pinned package")
    assert re.fullmatch(r"[0-9a-f]{40}", pin), f"the pin must be a full commit hash: {fix}"
    exists = subprocess.run([git, "cat-file", "-e", f"{pin}^{{commit}}"], cwd=ROOT, capture_output=True)
    if exists.returncode != 0:
        shallow = subprocess.run(
            [git, "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True
        )
        if shallow.stdout.strip() == "true":
            pytest.skip(f"a shallow clone lacks the pinned commit {pin[:10]}: git fetch --unshallow")
        raise AssertionError(f"the notebooks pin {pin}, which is not a commit of this repository: {fix}")
    diff = subprocess.run(
        [git, "diff", "--stat", pin, "HEAD", "--", "course_utils/"], cwd=ROOT, capture_output=True, text=True
    )
    assert diff.stdout == "", (
        f"course_utils/ changed since the pinned commit {pin[:10]}: {fix}\n{diff.stdout}"
    )


def test_pinning_refuses_a_package_that_is_not_committed(tmp_path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("needs git")
    run = lambda *args: subprocess.run([git, *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "course_utils").mkdir()
    (tmp_path / "course_utils" / "a.py").write_text("x = 1\n")
    run("add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "package")
    assert re.fullmatch(r"[0-9a-f]{40}", sync_notebooks.resolve("HEAD", root=tmp_path))
    (tmp_path / "course_utils" / "a.py").write_text("x = 2\n")
    with pytest.raises(SystemExit, match="course_utils/ has changes that are not committed"):
        sync_notebooks.resolve("HEAD", root=tmp_path)
