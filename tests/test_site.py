"""The course website as a reader sees it: built as the README says, served, and opened in headless Chromium.

The site is built once per session with ``python tools/build_site.py OUT`` (any Sphinx warning fails it), or
taken from ``COURSE_SITE_DIR`` where CI has just built it with the same command. Then:

- without a browser: every notebook has its page; every internal link and ``#anchor`` of every page
  resolves; each lesson page carries the Colab, Binder and download links of its notebook, derived from
  pyproject.toml's repository address; every exercise links its solution's heading and every solution
  links back to its lesson's exercises; the API page documents every name of ``course_utils.__all__``;
- in Chromium (Debian's ``chromium``, as in tests/test_browser.py; skipped without it): every page has an
  ``<h1>`` title, every image loads, no page shows an error output, stderr or a raw widget repr; the search
  page finds "ResNet"; full-page screenshots of the landing page and of a lesson are not blank.
"""

from __future__ import annotations

import functools
import html.parser
import importlib.util
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import committed_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import build_site  # noqa: E402
import sync_notebooks  # noqa: E402

NOTEBOOKS = sync_notebooks.notebooks()
LESSONS = [p for p in NOTEBOOKS if p.parent.name == "notebooks"]
# What a page must never show: tracebacks, stderr, and reprs that stand in for a rich output.
RAW_OUTPUTS = ("HBox(children", "FloatProgress(", "<IPython.core.display", "Traceback (most recent call")
PAGE_LOAD_MS = 30_000


def page_of(notebook: Path) -> str:
    """The site path of a notebook's page, e.g. ``notebooks/solutions/03_solutions.html``."""
    return notebook.relative_to(ROOT).with_suffix(".html").as_posix()


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    built = os.environ.get("COURSE_SITE_DIR")
    if built and (Path(built) / "index.html").exists():
        return Path(built)
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'the website tests need {module}: pip install -e ".[dev,docs]"')
    out = tmp_path_factory.mktemp("site") / "html"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_site.py"), str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"the site does not build:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert "pages in" in done.stdout
    return out


class _Page(html.parser.HTMLParser):
    """The ids (anchors) and link targets of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


@functools.cache
def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def internal(href: str) -> bool:
    return not urllib.parse.urlsplit(href).scheme and not href.startswith("//")


def test_every_notebook_has_a_page_and_the_build_names_them(site):
    missing = [page_of(p) for p in NOTEBOOKS if not (site / page_of(p)).exists()]
    assert not missing, f"notebooks without a page: {missing}"
    names = {p.relative_to(site).as_posix() for p in build_site.pages(site)}
    assert {"index.html", "setup.html", "instructors.html", "api.html", "search.html"} <= names


def broken(site: Path, page: Path, href: str) -> str | None:
    """Why the internal link ``href`` of ``page`` (a file of ``site``) leads nowhere; None if it resolves."""
    parts = urllib.parse.urlsplit(href)
    target = (page.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else page.resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(site.resolve()) or not target.exists():
        return f"{page.relative_to(site)}: {href} (no such file)"
    if parts.fragment and target.suffix == ".html":
        if urllib.parse.unquote(parts.fragment) not in parse(target).ids:
            return f"{page.relative_to(site)}: {href} (no #{parts.fragment} there)"
    return None


def test_every_internal_link_and_anchor_resolves(site):
    found = [
        why
        for page in sorted(site.rglob("*.html"))
        for href in parse(page).links
        if internal(href) and (why := broken(site, page, href))
    ]
    assert not found, "broken links:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_page_launches_and_downloads_its_notebook(site, notebook):
    repo = sync_notebooks.repository()
    rel = notebook.relative_to(ROOT).as_posix()
    links = set(parse(site / page_of(notebook)).links)
    colab = sync_notebooks.colab_url(repo, notebook)
    binder = f"https://mybinder.org/v2/gh/{repo}/{sync_notebooks.BRANCH}?urlpath=lab/tree/{rel}"
    assert colab in links, f"no Open in Colab link {colab}"
    assert binder in links, f"no Launch on Binder link {binder}"
    depth = "../" * (len(Path(rel).parts) - 1)
    download = f"{depth}_sources/{rel}"
    assert download in links, f"no download link {download}"
    # The download is the committed notebook itself (its diagrams inside), not the site's working copy.
    assert (site / "_sources" / rel).read_bytes() == notebook.read_bytes()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_exercises_link_their_solutions_and_back(site, lesson):
    solution = lesson.parent / "solutions" / f"{lesson.name[:2]}_solutions.ipynb"
    lesson_page, solution_page = parse(site / page_of(lesson)), parse(site / page_of(solution))
    exercises = [c for c in committed_notebook(lesson).cells if c.source.startswith("## Exercises")]
    assert len(exercises) == 1, "a lesson has one '## Exercises' cell"
    n_items = sum(line[:1].isdigit() and ". " in line[:4] for line in exercises[0].source.splitlines())
    to_solutions = [h for h in lesson_page.links if h.startswith(f"solutions/{solution.stem}.html#")]
    anchors = sorted({urllib.parse.urlsplit(h).fragment for h in to_solutions})
    assert len(anchors) == n_items, f"{n_items} exercises, {len(anchors)} solution headings linked: {anchors}"
    assert all(a.startswith("exercise-") and a in solution_page.ids for a in anchors), anchors
    assert f"../{lesson.stem}.html#exercises" in solution_page.links, "no link back to the exercises"


def test_the_api_page_documents_every_public_name(site):
    import course_utils as cu

    ids = parse(site / "api.html").ids
    modules = {"recipes", "transfer"}
    missing = [n for n in cu.__all__ if n not in modules and f"course_utils.{n}" not in ids]
    missing += [m for m in modules if f"module-course_utils.{m}" not in ids]
    assert not missing, f"not on the API page: {missing}"


def test_one_build_command_for_readme_ci_and_publishing():
    command = "python tools/build_site.py"
    workflow = (ROOT / ".github" / "workflows" / "site.yml").read_text()
    for name, text in (("README.md", (ROOT / "README.md").read_text()), ("site.yml", workflow)):
        assert command in text, f"{name} does not build the site with `{command}`"
    assert command in (ROOT / ".ci" / "run").read_text()
    assert "actions/deploy-pages" in workflow and "actions/upload-pages-artifact" in workflow
    assert 'pip install -e ".[docs]"' in workflow
    assert sync_notebooks.site_url(sync_notebooks.repository()) in (ROOT / "README.md").read_text()


# --- in a browser ----------------------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served(site):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def page(chromium):
    # The width of a laptop screen: the article column is about 700 to 800 px wide.
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    yield page
    page.close()


STATE_JS = """() => ({
  h1: [...document.querySelectorAll('article h1, main h1')].map(h => h.textContent.trim()),
  images: [...document.querySelectorAll('img')].map(img => ({
    src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth,
  })),
  errors: [...document.querySelectorAll('.output.error, .output.traceback, .output.stderr, .stderr')]
    .map(el => el.textContent.trim().slice(0, 200)),
  text: document.body.innerText,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
})"""


def site_pages(site: Path) -> list[str]:
    return [p.relative_to(site).as_posix() for p in build_site.pages(site)]


@pytest.mark.browser
def test_every_page_has_a_title_its_images_and_no_error_output(site, served, page):
    found = []
    for name in site_pages(site):
        page.goto(f"{served}/{name}", wait_until="load", timeout=PAGE_LOAD_MS)
        page.wait_for_function("[...document.images].every(i => i.complete)", timeout=PAGE_LOAD_MS)
        state = page.evaluate(STATE_JS)
        if not state["h1"]:
            found.append(f"{name}: no <h1> title")
        found += [f"{name}: image {i['src']} did not load" for i in state["images"] if i["width"] == 0]
        found += [f"{name}: shows an error or stderr output: {e!r}" for e in state["errors"]]
        found += [f"{name}: shows {raw!r}" for raw in RAW_OUTPUTS if raw in state["text"]]
        for link in state["links"]:  # as the browser resolved them, scripts' links included
            if link.startswith(f"{served}/"):
                path = urllib.parse.urlsplit(link).path.lstrip("/") or "index.html"
                relative = os.path.relpath(path, Path(name).parent)
                fragment = urllib.parse.urlsplit(link).fragment
                href = relative + (f"#{fragment}" if fragment else "")
                found += [why for why in [broken(site, site / name, href)] if why]
    assert not found, "\n".join(found)


@pytest.mark.browser
def test_lesson_titles_are_their_notebooks_titles(site, served, page):
    for notebook in NOTEBOOKS:
        title = committed_notebook(notebook).cells[0].source.splitlines()[0].lstrip("# ").strip()
        page.goto(f"{served}/{page_of(notebook)}", timeout=PAGE_LOAD_MS)
        assert page.locator("article h1").first.inner_text().strip().rstrip("#").strip() == title


@pytest.mark.browser
def test_the_search_finds_resnet_offline(served, page):
    page.goto(f"{served}/search.html?q=ResNet", timeout=PAGE_LOAD_MS)
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=PAGE_LOAD_MS)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("05_resnet_cifar10" in h for h in hrefs), hrefs


@pytest.mark.browser
@pytest.mark.parametrize("name", ["index.html", "notebooks/01_intro_cnn.html"])
def test_full_page_screenshot_is_not_blank(served, page, tmp_path, name):
    from PIL import Image, ImageStat

    page.goto(f"{served}/{name}", wait_until="load", timeout=PAGE_LOAD_MS)
    shot = tmp_path / (Path(name).stem + ".png")
    page.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("L")
    assert image.height > 900, "the full page is longer than the window"
    assert ImageStat.Stat(image).stddev[0] > 10, f"{shot} looks blank"
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50, f"{shot} has almost no content"
