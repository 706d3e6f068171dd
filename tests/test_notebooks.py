"""The committed notebooks: outputs of one fresh, in-order run, and the shape of a lesson.

(nbval re-executes them; these checks read the committed files, so they catch a notebook saved by hand
after running cells out of order, with an error, or with this machine's paths in its outputs.)
"""

import re
from pathlib import Path

import nbformat
import pytest

from course_utils import run_notebooks

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# A model or training loop defined in a notebook belongs in course_utils (notebooks import it).
DEFINES_COURSE_CODE = re.compile(r"^class \w+\((?:nn\.Module|torch\.nn\.Module|Dataset)\)", re.MULTILINE)


def read(path: Path):
    return nbformat.read(path, as_version=4)


def test_six_lessons_in_order():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_come_from_one_fresh_in_order_run(path):
    nb = read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-run on a fresh kernel"
    errors = [o.get("ename") for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    tracebacks = [c.execution_count for c in code for o in c.outputs if "Traceback" in str(o.get("text", ""))]
    assert not tracebacks, f"cells {tracebacks} printed a traceback"
    assert not run_notebooks.leaked_paths(nb)
    assert any(c.outputs for c in code), "committed without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_is_a_lesson(path):
    nb = read(path)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    title = markdown[0].lstrip()
    assert title.startswith(f"# {path.name[:2]} ·") and "In this lesson you will" in title
    assert nb.cells[-1].cell_type == "markdown" and nb.cells[-1].source.startswith("## Exercises")
    assert re.search(r"^1\. ", nb.cells[-1].source, re.MULTILINE), "exercises are a numbered list"
    assert "google.colab" in code[0], "the first code cell installs the package on Colab"
    assert "import course_utils as cu" in code[1], "the second code cell sets up the lesson"
    assert not [c for c in code if DEFINES_COURSE_CODE.search(c)], "import models from course_utils instead"
