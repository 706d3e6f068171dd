"""One repository address (pyproject.toml's [project.urls]) for every Colab, Binder and install link, and
the diagrams carried inside the notebooks: tools/sync_notebooks.py keeps them in step."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sync_notebooks  # noqa: E402


def test_notebooks_and_readme_follow_the_repository_address():
    assert sync_notebooks.check() == []  # `python tools/sync_notebooks.py` fixes what this lists


def test_every_notebook_links_its_own_colab_page():
    repo = sync_notebooks.repository()
    for path in sync_notebooks.notebooks():
        nb = nbformat.read(path, as_version=4)
        assert sync_notebooks.colab_url(repo, path) in nb.cells[0].source, path.name
        install = next(c.source for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source)
        assert f"git+https://github.com/{repo}" in install, path.name
    readme = (ROOT / "README.md").read_text()
    assert f"mybinder.org/v2/gh/{repo}/" in readme and f"colab.research.google.com/github/{repo}/" in readme


def test_a_fork_changes_the_address_with_one_command(tmp_path):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("notebooks", "figures", "tools"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    fork = "https://github.com/someone/their-fork"
    run = [sys.executable, str(tmp_path / "tools" / "sync_notebooks.py")]
    subprocess.run([*run, "--set-repository", fork], check=True, capture_output=True)
    assert subprocess.run([*run, "--check"], capture_output=True).returncode == 0
    readme = (tmp_path / "README.md").read_text()
    assert "someone/their-fork" in readme and "cnn-course/cnn-with-pytorch" not in readme
    assert "https://someone.github.io/their-fork/" in readme and "cnn-course.github.io" not in readme
    first = nbformat.read(next((tmp_path / "notebooks").glob("01_*.ipynb")), as_version=4)
    others = "https://cs231n.github.io/convolutional-networks/", "https://poloclub.github.io/cnn-explainer/"
    assert all(site in nbformat.writes(first) for site in others)  # other projects keep their address
    assert "github/someone/their-fork/blob/main/notebooks/01_" in first.cells[0].source
