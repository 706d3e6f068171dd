"""Sphinx configuration of the course website; build it with ``python tools/build_site.py``.

The site is made from what is committed and executes nothing:

- the lessons and solutions are the notebooks of ``notebooks/``, copied to ``docs/notebooks/`` when the build
  starts (git-ignored) and rendered with their committed outputs (MyST-NB, ``nb_execution_mode = "off"``);
- the landing, setup and instructors' pages include the README's sections marked
  ``<!-- site: NAME begin -->`` ... ``<!-- site: NAME end -->``, copied to ``docs/_readme/NAME.md`` with their
  links made to work on the site;
- the API page is autodoc of ``course_utils``'s docstrings, each entry linking its source lines on GitHub;
- every address (launch buttons, repository button, the site's own) derives from pyproject.toml's
  ``[project.urls] Repository``, as the README's badges do (``tools/sync_notebooks.py``).
"""

from __future__ import annotations

import base64
import inspect
import re
import shutil
import sys
from pathlib import Path

import nbformat

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "tools"))

from sync_notebooks import BRANCH, repository, site_url  # noqa: E402

REPO = repository()
# README sections the pages include: name -> (first marker, last marker, the page that includes it).
README_SECTIONS = {
    "intro": ("<!-- site: intro begin -->", "<!-- site: intro end -->", "index"),
    "map": ("<!-- notebook map: begin -->", "<!-- notebook map: end -->", "index"),
    "setup": ("<!-- site: setup begin -->", "<!-- site: setup end -->", "setup"),
    "test": ("<!-- site: test begin -->", "<!-- site: test end -->", "instructors"),
    "reference": ("<!-- site: reference begin -->", "<!-- site: reference end -->", "setup"),
    "instructors": ("<!-- site: instructors begin -->", "<!-- site: instructors end -->", "instructors"),
    "credits": ("<!-- site: credits begin -->", "<!-- site: credits end -->", "index"),
}
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def _slug(heading: str) -> str:
    """MyST's (and GitHub's) anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _readme_sections(readme: str) -> dict[str, str]:
    sections = {}
    for name, (begin, end, _) in README_SECTIONS.items():
        if readme.count(begin) != 1 or readme.count(end) != 1:
            raise RuntimeError(f"README.md must hold {begin!r} and {end!r} once each (for docs/{name})")
        sections[name] = readme.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    return sections


def _promote(text: str) -> str:
    """Headings raised so that the section's highest is ``##`` (the page that includes it has the ``#``)."""
    lines, fenced, headings = text.split("\n"), False, []
    for i, line in enumerate(lines):
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#+ ", line):
            headings.append(i)
    shift = max(0, min((len(lines[i]) - len(lines[i].lstrip("#")) for i in headings), default=2) - 2)
    for i in headings:
        lines[i] = lines[i][shift:]
    return "\n".join(lines)


def _site_link(target: str, page: str, anchors: dict[str, str]) -> str:
    """A README link as the page ``page`` in docs/ needs it."""
    if re.match(r"^[a-z]+:", target) or target.startswith("notebooks/"):
        return target  # an address, or a lesson (docs/notebooks/ mirrors notebooks/)
    if target.startswith("docs/") and target.split("#")[0].endswith(".md"):
        return target.removeprefix("docs/")  # a page of the site
    if target.startswith("#"):
        where = anchors.get(target[1:])
        if where is None:
            raise RuntimeError(f"README.md links {target}, a heading outside the sections the site includes")
        return target if where == page else f"{where}.md{target}"
    return f"https://github.com/{REPO}/blob/{BRANCH}/{target}"  # a file of the repository


def stage_readme(out: Path = DOCS / "_readme") -> None:
    sections = _readme_sections((ROOT / "README.md").read_text())
    anchors = {
        _slug(h): README_SECTIONS[name][2] for name, text in sections.items() for h in HEADING.findall(text)
    }
    out.mkdir(exist_ok=True)
    for name, text in sections.items():
        page = README_SECTIONS[name][2]
        text = LINK.sub(lambda m, page=page: f"]({_site_link(m.group(1), page, anchors)})", text)
        (out / f"{name}.md").write_text(_promote(text))


def _attachments_to_files(nb, folder: Path) -> None:
    """Cell attachments (the diagrams, the Colab badge) written to ``folder/_attachments/`` and linked from
    there: MyST-NB does not read ``attachment:NAME`` links."""
    for cell in nb.cells:
        for name, bundle in cell.pop("attachments", {}).items():
            (folder / "_attachments").mkdir(exist_ok=True)
            mime, data = next(iter(bundle.items()))
            (folder / "_attachments" / name).write_bytes(base64.b64decode(data))
            cell.source = cell.source.replace(f"attachment:{name}", f"_attachments/{name}")


def stage_notebooks(out: Path = DOCS / "notebooks") -> None:
    """A copy of notebooks/ as the site reads it: the same files, attachments as image files."""
    shutil.rmtree(out, ignore_errors=True)
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts:
            target = out / path.relative_to(ROOT / "notebooks")
            target.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.read(path, as_version=4)
            _attachments_to_files(nb, target.parent)
            nbformat.write(nb, target)


stage_readme()
stage_notebooks()

project = "Convolutional Neural Networks with PyTorch"
author = "the course's authors"
copyright = "the course's authors, MIT license"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.linkcode"]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "_readme"]

# Notebooks: shown as committed (one in-order cpu run), never executed here; stderr is not page content.
nb_execution_mode = "off"
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3  # `03_small_data.ipynb#exercises` and `#exercise-1--...` resolve, as on GitHub

autodoc_member_order = "bysource"  # course_utils.__all__'s order, grouped as a lesson meets the names
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = False

html_theme = "sphinx_book_theme"
html_title = "CNNs with PyTorch"
html_baseurl = site_url(REPO)
html_sourcelink_suffix = ""  # "Download" gives the .ipynb itself, not .ipynb.txt
html_theme_options = {
    "repository_url": f"https://github.com/{REPO}",
    "repository_branch": BRANCH,
    "path_to_docs": "",  # docs/notebooks/X.ipynb is notebooks/X.ipynb in the repository
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
}


def linkcode_resolve(domain: str, info: dict) -> str | None:
    """The [source] link of an API entry: its lines in the repository (the branch the site is built from)."""
    if domain != "py" or not info["module"]:
        return None
    obj = sys.modules.get(info["module"])
    for part in info["fullname"].split("."):
        obj = getattr(obj, part, None)
    obj = inspect.unwrap(obj) if callable(obj) else obj
    try:
        path = Path(inspect.getsourcefile(obj)).resolve()
        lines, first = inspect.getsourcelines(obj)
    except (TypeError, OSError):
        return None  # data (MODELS), or an object without Python source
    if not path.is_relative_to(ROOT):
        return None
    where = path.relative_to(ROOT).as_posix()
    return f"https://github.com/{REPO}/blob/{BRANCH}/{where}#L{first}-L{first + len(lines) - 1}"


def _download_the_committed_notebooks(app, exception) -> None:
    """'Download' gives the notebook as committed (its diagrams as attachments), not the site's copy."""
    if exception is None and app.builder.format == "html":
        for path in (ROOT / "notebooks").rglob("*.ipynb"):
            target = Path(app.outdir) / "_sources" / "notebooks" / path.relative_to(ROOT / "notebooks")
            if target.exists():
                shutil.copy2(path, target)


def setup(app):
    app.connect("build-finished", _download_the_committed_notebooks)
