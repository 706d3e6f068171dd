"""The notebooks as a student sees them: JupyterLab in headless Chromium, started as the README says.

For every lesson (and every notebook in notebooks/solutions/, if that folder exists) this opens
JupyterLab on it and checks, in the rendered page:

1. the first cell renders an <h1> title (a title indented by 4+ spaces renders as a code block);
2. every image in markdown cells and in outputs has loaded (naturalWidth > 0): a figure linked above the
   server root (``../figures/x.png``, outside ``jupyter lab notebooks/``) is a 404 in JupyterLab;
3. no error output is shown: no traceback and no stderr stream other than a Python warning (JupyterLab 4
   renders both as ``data-mime-type="application/vnd.jupyter.stderr"``; ``...jupyter.error`` is checked too).

JupyterLab 4 can virtualise long notebooks (with ``windowingMode`` ``full`` only the cells near the viewport
are in the page; 4.6 defaults to ``contentVisibility``). The server gets a temporary settings
directory that sets ``windowingMode`` to ``none``, and the test checks that every cell of the file is in
the page, and every markdown cell rendered, before it looks at them. Images are checked once every
markdown link has been resolved and every image has finished loading (or failing), and the page has
stayed the same for one more poll.

JupyterLab is loaded once (``--LabApp.expose_app_in_browser``); each test opens its notebook in a new tab
with the ``docmanager:open`` command, as the file browser does, and reads only that tab.

Needs Chromium (Debian: ``apt-get install chromium``; ``CHROMIUM=/path`` picks another binary) and the
``playwright`` package (dev extras); skipped without them. ``pytest -m browser`` runs only these tests,
``-m "not browser"`` leaves them out. A screenshot of each notebook is saved in pytest's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import committed_notebook

ROOT = Path(__file__).resolve().parents[1]
SERVED = ROOT / "notebooks"  # `jupyter lab notebooks/`: the server root
NOTEBOOKS = sorted(SERVED.glob("[0-9][0-9]_*.ipynb")) + sorted(SERVED.glob("solutions/*.ipynb"))

# Test-only settings: every cell in the DOM (no virtualisation), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
SERVER_START_S = 120
PAGE_LOAD_S = 90
SETTLE_S = 30  # markdown rendered, image links resolved, images loaded

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running `jupyter lab notebooks/` server."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.base}{path}", method=method)
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None


def wait_until_up(server: subprocess.Popen, lab: Lab, log: Path):
    deadline = time.monotonic() + SERVER_START_S
    while server.poll() is None and time.monotonic() < deadline:
        try:
            lab.api("/api/status")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    why = f"exited with {server.returncode}" if server.poll() is not None else f"silent {SERVER_START_S} s"
    pytest.fail(f"jupyter lab {why}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def lab(chromium_exe, tmp_path_factory):
    """JupyterLab started from the repository root as the README says, with test-only flags and settings."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    for name, values in LAB_SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
    )
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "notebooks/"]
    command += ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0"]
    command += [f"--IdentityProvider.token={token}", "--allow-root", "--LabApp.expose_app_in_browser=True"]
    command += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    # Nothing written next to the notebooks or in the user's data dir.
    command += [f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}", f"--NotebookNotary.data_dir={tmp}"]
    log = tmp / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}", token)
    try:
        wait_until_up(server, lab, log)
        windowing = lab.api("/lab/api/settings/@jupyterlab/notebook-extension:tracker")["settings"]
        assert windowing.get("windowingMode") == "none", f"settings override not applied: {windowing}"
        yield lab
    finally:  # stopping the server shuts down the kernels JupyterLab started for the notebooks it opened
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def lab_page(lab, chromium):
    """JupyterLab loaded once in headless Chromium; each test opens its notebook in it (as File > Open)."""
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{lab.base}/lab?reset&token={lab.token}", timeout=PAGE_LOAD_S * 1000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=PAGE_LOAD_S * 1000)
    page.evaluate("() => window.jupyterapp.restored")
    yield page
    page.close()


OPEN_JS = """async path => {
  // The tab opened before stays open: closing it while its kernel connects makes jupyter_server log errors.
  const panel = await window.jupyterapp.commands.execute('docmanager:open', {path});
  await panel.context.ready;
  await panel.revealed;
  return panel.id;
}"""

# Page state, read in one go. Cells go by their index in the notebook (JupyterLab's data-windowed-list-index).
# `markdown` lists the markdown cells with text: rendered once their node has content (rendering is async).
STATE_JS = r"""({id, markdown}) => {
  const notebook = document.querySelector(`[id="${id}"] .jp-Notebook`);
  if (!notebook) return null;
  const cells = [...notebook.querySelectorAll('.jp-Notebook-cell')];
  const position = cell => Number(cell.dataset.windowedListIndex ?? cells.indexOf(cell));
  const byIndex = new Map(cells.map(cell => [position(cell), cell]));
  const index = el => position(el.closest('.jp-Notebook-cell'));
  const rendered = i => byIndex.get(i)?.querySelector('.jp-RenderedMarkdown')?.childNodes.length > 0;
  const first = byIndex.get(0);
  const title = first?.querySelector('.jp-RenderedMarkdown');
  return {
    cells: cells.length,
    unrendered: markdown.filter(i => !rendered(i)),
    first: first && {
      markdown: first.classList.contains('jp-MarkdownCell'),
      tag: title?.firstElementChild?.tagName.toLowerCase() ?? null,
      text: title ? title.textContent.trim().split('\n')[0].slice(0, 80) : null,
    },
    images: [...notebook.querySelectorAll('img')].map(img => {
      const md = img.closest('.jp-RenderedMarkdown');
      return {
        cell: index(img),
        where: md ? 'markdown' : 'output',
        n: md ? [...md.querySelectorAll('img')].indexOf(img) : null,
        src: img.getAttribute('src') || '',
        alt: img.getAttribute('alt') || '',
        complete: img.complete,
        width: img.naturalWidth,
      };
    }),
    // JupyterLab 4 renders a traceback as application/vnd.jupyter.stderr text, like a stderr stream (the
    // output's data also holds application/vnd.jupyter.error, which has no renderer in core JupyterLab).
    errors: [...notebook.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], [data-mime-type="application/vnd.jupyter.error"]'
    )].map(el => ({cell: index(el), text: el.textContent.trim().slice(0, 300)})),
  };
}"""

RESOLVED = re.compile(r"^(data:|blob:|https?:)")  # JupyterLab rewrites relative links once resolved
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)")


def settled(state: dict | None, n_cells: int) -> bool:
    return bool(
        state
        and state["cells"] == n_cells
        and not state["unrendered"]
        and all(img["complete"] and RESOLVED.match(img["src"]) for img in state["images"])
    )


def read_page(page, panel: str, nb) -> dict | None:
    """The page state once every cell is there, rendered, and every image done (or the last one seen)."""
    markdown = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.strip()]
    deadline, previous = time.monotonic() + SETTLE_S, None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS, {"id": panel, "markdown": markdown})
        if settled(state, len(nb.cells)) and state == previous:  # the same twice: nothing still coming
            return state
        previous = state
        page.wait_for_timeout(300)
    return previous


def markdown_image_links(nb, cell: int) -> list[str]:
    source = nb.cells[cell].source if nb.cells[cell].cell_type == "markdown" else ""
    return [a or b for a, b in MARKDOWN_IMAGE.findall(source)]


def describe_image(img: dict, nb, responses: dict[str, int]) -> str:
    served = urllib.parse.urlsplit(img["src"]).path if not img["src"].startswith("data:") else "a data: URL"
    status = responses.get(served)
    fetched = f"{served}{f', HTTP {status}' if status else ''}"
    if img["where"] == "output":
        return f"output image in cell {img['cell']} ({fetched}) did not load"
    links = markdown_image_links(nb, img["cell"])
    link = links[img["n"]] if img["n"] is not None and img["n"] < len(links) else img["alt"] or img["src"]
    return f"image {link} in markdown cell {img['cell']} did not load ({fetched})"


def problems(state: dict | None, nb, responses: dict[str, int]) -> list[str]:
    n_cells = len(nb.cells)
    if state is None:
        return ["no notebook in the page"]
    found = []
    if state["cells"] != n_cells:
        found.append(f"{state['cells']} of {n_cells} cells in the page (virtualised? windowingMode not none)")
    if state["unrendered"]:
        missing = state["unrendered"]
        cells = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        found.append(f"{len(missing)} markdown cells ({cells}) not rendered after {SETTLE_S} s")
    first = state["first"]
    if first is None or not first["markdown"]:
        found.append("first cell is not a markdown cell (the title)")
    elif first["tag"] != "h1":
        found.append(f"first cell renders <{first['tag']}>, not <h1> ({first['text']!r})")
    for img in state["images"]:
        if not (img["complete"] and img["width"] > 0):
            found.append(describe_image(img, nb, responses))
    for err in state["errors"]:
        outputs = nb.cells[err["cell"]].get("outputs", []) if 0 <= err["cell"] < n_cells else []
        traceback = any(o.output_type == "error" and o.ename in err["text"] for o in outputs)
        if not traceback and re.search(r"\w+Warning: ", err["text"]):
            continue  # a warning the lesson shows on purpose (e.g. a Grad-CAM map that is zero) is no error
        kind = "an error (traceback)" if traceback else "stderr output"
        found.append(f"cell {err['cell']} shows {kind}: {err['text'][:200]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(SERVED).with_suffix("").as_posix())
def test_notebook_renders_in_jupyterlab(path, lab_page, tmp_path):
    name = path.relative_to(SERVED).with_suffix("").as_posix()
    nb = committed_notebook(path)
    responses: dict[str, int] = {}

    def record(response):
        responses[urllib.parse.urlsplit(response.url).path] = response.status

    lab_page.on("response", record)
    try:
        panel = lab_page.evaluate(OPEN_JS, path.relative_to(SERVED).as_posix())
        state = read_page(lab_page, panel, nb)
        lab_page.screenshot(path=str(tmp_path / f"{path.stem}.png"))
    finally:
        lab_page.remove_listener("response", record)
    if found := problems(state, nb, responses):
        pytest.fail("\n".join(f"{name}: {p}" for p in found), pytrace=False)
