"""Keep what the notebooks carry in step with the repository: its address, and the diagrams.

    python tools/sync_notebooks.py                      # rewrite notebooks and README in place
    python tools/sync_notebooks.py --check              # list what is out of step (what the tests run)
    python tools/sync_notebooks.py --set-repository https://github.com/you/your-fork
    python tools/sync_notebooks.py --pin HEAD            # Colab installs the package of this commit

The repository address lives in one place, ``[project.urls] Repository`` in pyproject.toml. From it
come the Colab badge in each notebook's first cell, the Colab install cell of each notebook, the
Colab and Binder badges of the README, and the course website's address (GitHub Pages, ``site_url``).
``--set-repository`` changes pyproject.toml, then all of them.

The Colab install cell is pinned to one commit, the same in every notebook: the package that the
notebooks were executed and tested with. An old copy of a notebook then installs the package it was
written for, not whatever main holds today. After a change to ``course_utils/`` is committed, re-pin
with ``--pin HEAD`` and commit the notebooks (``tests/test_links.py`` fails until then).

Diagrams travel inside the notebooks as cell attachments, so they show wherever the notebook is
opened (JupyterLab started in any folder, Colab, GitHub, nbviewer). A markdown cell refers to
``attachment:NAME.png``; the file is ``figures/NAME.png`` (drawn by ``figures/make_figures.py``).
"""

from __future__ import annotations

import argparse
import base64
import collections
import re
import subprocess
import sys
from pathlib import Path

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (dev and docs extras)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
BRANCH = "main"
ATTACHMENT = re.compile(r"!\[[^\]]*\]\(attachment:([\w.-]+)\)")
GITHUB_PART = r"[\w.-]+/[\w.-]+"
PIN = re.compile(r"%pip install .*git\+https://github\.com/[\w.-]+/[\w.-]+?@([0-9a-f]{40})\"")


def repository(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """``owner/name`` of the repository, from pyproject.toml's ``[project.urls] Repository``."""
    url = tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"]
    match = re.fullmatch(rf"https://github\.com/({GITHUB_PART})/?", url)
    if not match:
        raise SystemExit(f"[project.urls] Repository must be https://github.com/OWNER/NAME, got {url!r}")
    return match.group(1)


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")
    )


def colab_url(repo: str, path: Path) -> str:
    return (
        f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{path.relative_to(ROOT).as_posix()}"
    )


def site_url(repo: str) -> str:
    """The address GitHub Pages gives the site of ``repo`` (``.github/workflows/site.yml`` publishes it)."""
    owner, name = repo.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def badge_line(repo: str, path: Path) -> str:
    return f"[![Open in Colab](attachment:colab_badge.png)]({colab_url(repo, path)})"


def install_line(repo: str, pin: str) -> str:
    return f'    %pip install -q "course-utils @ git+https://github.com/{repo}@{pin}"'


def pins() -> dict[Path, str | None]:
    """The commit each notebook's Colab install cell is pinned to (None: not pinned)."""
    found = {}
    for path in notebooks():
        cells = nbformat.read(path, as_version=4).cells
        install = next((c.source for c in cells if c.cell_type == "code" and "google.colab" in c.source), "")
        match = PIN.search(install)
        found[path] = match.group(1) if match else None
    return found


def current_pin(found: dict[Path, str | None] | None = None) -> str:
    """The one commit the notebooks install: the pin that most of them carry (``found``: :func:`pins`,
    read again when not given)."""
    counted = collections.Counter(pin for pin in (found or pins()).values() if pin)
    if not counted:
        raise SystemExit("no notebook pins its Colab install to a commit: run with --pin HEAD")
    return counted.most_common(1)[0][0]


def resolve(rev: str, root: Path = ROOT) -> str:
    """The full commit hash of ``rev`` (``HEAD``, a tag, a short hash) in the repository at ``root``.

    Refused while ``course_utils/`` has changes that are not committed: the pinned commit would not hold
    the package the notebooks are tested with."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=root, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"--pin {rev}: not a commit of this repository ({done.stderr.strip()})")
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "course_utils/"], cwd=root, capture_output=True, text=True
    ).stdout
    if dirty:
        raise SystemExit(
            f"--pin {rev}: course_utils/ has changes that are not committed; commit them first\n{dirty}"
        )
    return done.stdout.strip()


def _course_sites(text: str) -> set[str]:
    """The GitHub Pages addresses of the repositories that ``text`` opens in Colab or Binder or installs."""
    links = rf"(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh|git\+https://github\.com)/({GITHUB_PART})"
    return {site_url(repo.removesuffix(".git")) for repo in re.findall(links, text)}


def _with_repo(text: str, repo: str) -> str:
    """Every Colab, Binder and pip address of the course's repository in ``text``, pointed at ``repo``."""
    for site in _course_sites(text):  # other sites on github.io (CS231n, CNN Explainer) stay as they are
        text = text.replace(site, site_url(repo))
    text = re.sub(
        rf"colab\.research\.google\.com/github/{GITHUB_PART}/",
        f"colab.research.google.com/github/{repo}/",
        text,
    )
    text = re.sub(rf"mybinder\.org/v2/gh/{GITHUB_PART}/", f"mybinder.org/v2/gh/{repo}/", text)
    own_files = r"/(blob|tree)/main/(?=benchmarks/|notebooks/|course_utils/|tools/|README\.md)"
    text = re.sub(rf"github\.com/{GITHUB_PART}{own_files}", rf"github.com/{repo}/\1/main/", text)
    clone = f"git clone https://github.com/{repo} && cd {repo.split('/')[1]}"
    text = re.sub(rf"git clone https://github\.com/{GITHUB_PART} && cd [\w.-]+", clone, text)
    return re.sub(rf"git\+https://github\.com/{GITHUB_PART}\b", f"git+https://github.com/{repo}", text)


def _embed(cell) -> list[str]:
    """Attach every ``attachment:NAME`` image of a markdown cell from figures/; return what changed."""
    changed = []
    for name in ATTACHMENT.findall(cell.source):
        data = base64.b64encode((FIGURES / name).read_bytes()).decode()
        current = cell.get("attachments", {}).get(name, {}).get("image/png")
        if current != data:
            cell.setdefault("attachments", {})[name] = {"image/png": data}
            changed.append(f"attachment {name}")
    return changed


def sync_notebook(path: Path, repo: str, pin: str, write: bool) -> list[str]:
    """Bring one notebook in step; return a line per change (empty when it already was)."""
    nb = nbformat.read(path, as_version=4)
    changes: list[str] = []
    title = nb.cells[0]
    lines = title.source.split("\n")
    badge = badge_line(repo, path)
    badge_at = [i for i, line in enumerate(lines) if "attachment:colab_badge.png" in line]
    if not badge_at:
        lines[1:1] = ["", badge]
        changes.append("Colab badge added")
    elif lines[badge_at[0]] != badge:
        lines[badge_at[0]] = badge
        changes.append("Colab badge address")
    title.source = "\n".join(lines)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            changes += _embed(cell)
            linked = _with_repo(cell.source, repo)
            if linked != cell.source:
                cell.source = linked
                changes.append("links to the repository's files")
        elif "google.colab" in cell.source:
            fixed = re.sub(r"^\s+%pip install .*$", install_line(repo, pin), cell.source, flags=re.MULTILINE)
            if fixed != cell.source:
                cell.source = fixed
                changes.append("Colab install address")
    if changes and write:
        nbformat.write(nb, path)
    return [f"{path.relative_to(ROOT)}: {c}" for c in changes]


def sync_readme(repo: str, write: bool, root: Path = ROOT) -> list[str]:
    """The README's addresses, and those of the website's own pages (docs/*.md)."""
    changes = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = page.read_text()
        fixed = _with_repo(text, repo)
        if fixed != text and write:
            page.write_text(fixed)
        changes += [f"{page.relative_to(root)}: repository addresses"] if fixed != text else []
    return changes


def set_repository(url: str, pyproject: Path = ROOT / "pyproject.toml") -> None:
    text = pyproject.read_text()
    new, count = re.subn(r'(?m)^Repository = ".*"$', f'Repository = "{url}"', text)
    if count != 1:
        raise SystemExit("pyproject.toml has no single `Repository = ...` line under [project.urls]")
    pyproject.write_text(new)
    repository(pyproject)  # validates the address


def check() -> list[str]:
    """Everything out of step, without writing (tests/test_links.py asserts this is empty)."""
    repo, pin = repository(), current_pin()
    return [c for path in notebooks() for c in sync_notebook(path, repo, pin, write=False)] + sync_readme(
        repo, False
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--check", action="store_true", help="only list what is out of step; exit 1 if anything is"
    )
    p.add_argument("--set-repository", metavar="URL", help="https://github.com/OWNER/NAME of your fork")
    p.add_argument("--pin", metavar="REV", help="pin every Colab install to this commit (e.g. HEAD)")
    args = p.parse_args(argv)
    if args.set_repository:
        set_repository(args.set_repository)
    if args.check:
        problems = check()
        print("\n".join(problems) or "in step")
        return 1 if problems else 0
    repo = repository()
    pin = resolve(args.pin) if args.pin else current_pin()
    changes = [c for path in notebooks() for c in sync_notebook(path, repo, pin, write=True)] + sync_readme(
        repo, True
    )
    print("\n".join(changes) or "already in step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
