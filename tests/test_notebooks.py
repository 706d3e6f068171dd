"""The committed notebooks: outputs of one fresh, in-order run, the shape of a lesson, and claims that
their own outputs back.

(nbval re-executes them; these checks read the committed files, so they catch a notebook saved by hand
after running cells out of order, with an error, or with this machine's paths in its outputs, and a
sentence whose number no output shows.)
"""

import dataclasses
import functools
import re
import sys
from pathlib import Path

import nbformat
import pytest
import run_notebooks

from tests.conftest import committed_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = LESSONS + SOLUTIONS
# A model defined in a notebook belongs in course_utils (notebooks import it).
DEFINES_COURSE_CODE = re.compile(r"^class \w+\((?:nn\.Module|torch\.nn\.Module|Dataset)\)", re.MULTILINE)
# What students read must say "the reference chapter", never the authors' word for it.
# Text an author leaves to write after the run; a committed notebook has none.
PLACEHOLDER = re.compile(
    r"written after the run|\bANSWER_\d|\((?:interpretation|decision|what next)\)|\bTODO\b"
)
AUTHORS_WORD = re.compile(r"\bseed's\b|\bseed recipe\b|\bseed-style\b|\(seed\)", re.IGNORECASE)


def read(path: Path, copy_for_changes: bool = False):
    return committed_notebook(path, copy_for_changes)


def output_text(cell) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(str(output.get("text", "")))
        data = output.get("data", {})
        parts += [str(data.get(kind, "")) for kind in ("text/plain", "text/markdown")]
    return "\n".join(parts)


def test_lessons_in_order():
    assert [p.name[:2] for p in LESSONS] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


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
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    left = PLACEHOLDER.findall(markdown)
    assert not left, f"text to be written from the outputs is missing: {left}"


def markdown_problems(source: str) -> list[str]:
    """Markdown that renders wrongly: lines indented 4+ spaces outside lists and fences become code blocks;
    images must travel inside the notebook (attachments), never point above its folder."""
    problems, fenced, previous_blank = [], False, True
    for line in source.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif (
            not fenced
            and previous_blank
            and re.match(r"^ {4,}\S", line)
            and not re.match(r"^ {4,}([-*+]|\d+\.) ", line)
        ):
            problems.append(f"indented line renders as code: {line.strip()[:50]!r}")
        previous_blank = not line.strip()
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", source):
        if not target.startswith("attachment:"):
            problems.append(f"image {target} is not a cell attachment")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_renders_as_written(path):
    nb = read(path)
    problems = [f"cell {i}: {p}" for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                for p in markdown_problems(c.source)]  # fmt: skip
    assert not problems, problems
    words = [c.source for c in nb.cells if c.cell_type == "markdown" and AUTHORS_WORD.search(c.source)]
    assert not words, f"say 'the reference chapter': {words[0][:120]!r}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_notebook_is_a_lesson(path):
    nb = read(path)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert markdown[0].startswith(f"# {path.name[:2]} ·") and "In this lesson you will" in markdown[0]
    assert "attachment:colab_badge.png" in markdown[0], "the first cell carries the Colab badge"
    assert "google.colab" in code[0], "the first code cell installs the package on Colab"
    for call in (
        "import course_utils as cu",
        "cu.get_profile()",
        "cu.runtime(profile)",
        "cu.seed_everything(0)",
    ):
        assert call in code[1], f"the second code cell sets up the lesson: {call}"
    assert nb.cells[-2].cell_type == "markdown" and nb.cells[-2].source.startswith("## Further reading")
    assert "](http" in nb.cells[-2].source, "further reading links its sources"
    exercises = nb.cells[-1]
    assert exercises.cell_type == "markdown" and exercises.source.startswith("## Exercises")
    items = re.findall(r"^\d+\. .*?(?=^\d+\. |\Z)", exercises.source, re.MULTILINE | re.DOTALL)
    assert len(items) >= 3, "exercises are a numbered list"
    solution = f"solutions/{path.name[:2]}_solutions.ipynb"
    for i, item in enumerate(items, 1):
        assert solution in item, f"exercise {i} links its solution ({solution})"
        assert "good answer" in " ".join(item.split()).lower(), (
            f"exercise {i} says what a good answer looks like"
        )
    assert not [c for c in code if DEFINES_COURSE_CODE.search(c)], "import models from course_utils instead"


def exercise_count(lesson: Path) -> int:
    return len(re.findall(r"^\d+\. ", read(lesson).cells[-1].source, re.MULTILINE))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_has_its_solutions(lesson):
    path = ROOT / "notebooks" / "solutions" / f"{lesson.name[:2]}_solutions.ipynb"
    assert path.exists(), f"{path.name} is missing"
    nb = read(path)
    first = nb.cells[0].source
    assert first.startswith(f"# {lesson.name[:2]} · Solutions") and lesson.name in first, (
        "title and lesson link"
    )
    headings = [
        int(n)
        for c in nb.cells
        if c.cell_type == "markdown"
        for n in re.findall(r"^## Exercise (\d+)", c.source, re.M)
    ]
    assert headings == list(range(1, exercise_count(lesson) + 1)), "one section per exercise, in order"
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "google.colab" in code[0] and "cu.runtime(profile)" in code[1]


# --------------------------------------------------------------------------------------------
# Claims. Every number with a unit in a markdown cell states a result, and must either
#   - appear, at the rounding shown, in the printed output of a code cell above it, or
#   - sit in a sentence that cites its source with a link (a paper, a leaderboard, a results file, or the
#     worked solution whose outputs show it, as an exercise's "good answer" does).
# Numbers that define rather than report are exempt by rule, not by list:
#   - sizes written as products, such as 3x3, 28×28, 3×32×32 (a number joined to another by x or ×);
#   - anything inside inline code or a code block (names, arguments, commands);
#   - the lesson number in a title.
# Units: %, x / × (a ratio), s / seconds / min / minutes / h / hours, MB / GB, images, parameters.
# --------------------------------------------------------------------------------------------
UNIT = (
    r"(?:\s?%|\s?[x×](?![\d(])|\s(?:s|seconds?|min|minutes?|h|hours?|MB|GB)\b"
    r"|\s(?:\w+\s)?(?:images|parameters)\b)"
)
CLAIM = re.compile(r"(?<![\w.,×])(\d[\d,]*(?:\.\d+)?)(\s(?:million|billion))?(?=" + UNIT + r")")
DIMENSION = re.compile(r"\d+(?:\s?[x×]\s?\d+)+")


def _sentences(markdown: str) -> list[str]:
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"^#+ \d\d ·", "#", text, flags=re.MULTILINE)
    text = DIMENSION.sub(" ", text)
    # a sentence ends at . ! ? before a capital; a paragraph or a list item ends one too (a colon does not)
    return re.split(r"(?<=[.!?])\s+(?=[A-Z(*])|\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.) )", text)


def _printed(number: str, scale: str | None, outputs: str) -> bool:
    """Whether ``number`` (as written, with an optional million/billion) appears in ``outputs``."""
    if scale:
        decimals = len(number.split(".")[1]) if "." in number else 0
        factor = 1e6 if "million" in scale else 1e9
        values = [
            int(v.replace(",", "")) for v in re.findall(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d.])", outputs)
        ]
        return any(f"{v / factor:.{decimals}f}" == number for v in values)
    plain = number.replace(",", "")
    for literal in {number, plain}:
        if re.search(rf"(?<![\d.]){re.escape(literal)}(?!\d|\.\d)", outputs):
            return True
    return False


LESSON_LINK = re.compile(r"\]\((\d\d_[\w-]+\.ipynb)(?:#[^)]*)?\)")


@functools.cache
def _lesson_outputs(name: str) -> str:
    """Everything lesson ``name``'s committed outputs show (read once per test session)."""
    path = ROOT / "notebooks" / name
    return "\n".join(output_text(c) for c in read(path).cells) if path.exists() else ""


def _linked_outputs(sentence: str) -> str:
    """The committed outputs of the lessons that ``sentence`` links (``[05](05_resnet_cifar10.ipynb)``)."""
    return "\n".join(_lesson_outputs(name) for name in LESSON_LINK.findall(sentence))


def unbacked_claims(nb) -> list[str]:
    """The numbered claims of ``nb``'s markdown that no earlier output shows, no link cites and no linked
    lesson prints."""
    found, outputs = [], ""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            outputs += "\n" + output_text(cell)
            continue
        for sentence in _sentences(cell.source):
            if "](http" in sentence or "](solutions/" in sentence:  # a cited source, or a worked solution
                continue
            shown = outputs + _linked_outputs(sentence)
            for number, scale in CLAIM.findall(sentence):
                if not _printed(number, scale.strip() or None, shown):
                    found.append(f"cell {i}: {number}{scale} in {' '.join(sentence.split())[:100]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_is_backed_by_an_output_or_a_source(path):
    claims = unbacked_claims(read(path))
    assert not claims, "\n".join(claims)


def test_the_claims_check_catches_a_planted_number():
    nb = read(LESSONS[1], copy_for_changes=True)
    assert not unbacked_claims(nb)
    planted = nbformat.v4.new_markdown_cell("LeNet-5 reaches 97.31 % on the test set, in 987 s.")
    nb.cells.append(planted)
    last = len(nb.cells) - 1
    assert [c.split(" in ")[0] for c in unbacked_claims(nb)] == [f"cell {last}: 97.31", f"cell {last}: 987"]
    planted.source = (
        "The 3x3 kernels of `nn.Conv2d(1, 6, 5)` see 28×28 images "
        "(see [the paper](https://arxiv.org/abs/1512.03385): 93.57 %)."
    )
    assert not unbacked_claims(nb)
    planted.source = "[Lesson 05](05_resnet_cifar10.ipynb) reaches 90.14 % test; it does not print 90.13 %."
    assert [c.split(" in ")[0] for c in unbacked_claims(nb)] == [f"cell {last}: 90.13"]


# "⏱ The next cell takes about 3 minutes ..." / "⏱ The training cell below the summary takes about 80 s ...".
TIMED = re.compile(r"⏱ The (next cell|training cell below [^.]*?) takes about (\d+) (s|minutes?)\b")


def timed_lines(nb) -> list[tuple[str, float, list[float]]]:
    """(the line, the seconds it quotes, the committed seconds of the next two code cells) per ⏱ line."""
    times = {number: seconds for seconds, number, _ in bench_notebooks.cell_times(nb)}
    found, code = [], 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            code += 1
        for which, amount, unit in TIMED.findall(cell.source) if cell.cell_type == "markdown" else []:
            quoted = int(amount) * (1 if unit == "s" else 60)
            found.append((f"{which} ... {amount} {unit}", quoted, [times.get(code + 1), times.get(code + 2)]))
    return found


def wrong_timed_lines(nb) -> list[str]:
    """The ⏱ lines whose time is off the committed run's: by more than 45 s for "N minutes", a quarter
    for "N s". The cell named is the next one, or for "the training cell below ...", the longer of two."""
    wrong = []
    for line, quoted, (first, second) in timed_lines(nb):
        ran = first if line.startswith("next cell") else max(first or 0, second or 0)
        slack = quoted / 4 if line.endswith(" s") else 45
        if ran is None or abs(ran - quoted) > slack:
            wrong.append(f"{line!r}: the committed run took {ran and round(ran)} s")
        elif ran < bench_notebooks.LONG_CELL_S:
            wrong.append(f"{line!r}: a {ran:.0f} s cell is not in RESULTS.md's Long cells (cited)")
    return wrong


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_timed_lines_quote_the_committed_run(path):
    wrong = wrong_timed_lines(read(path))
    assert not wrong, "\n".join(wrong)


def test_the_timed_lines_check_reads_every_line_and_catches_a_wrong_one():
    quoted = [
        line
        for path in LESSONS
        for cell in read(path).cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if "⏱" in line
    ]
    assert len([t for path in LESSONS for t in timed_lines(read(path))]) == len(quoted) >= 8
    nb = read(ROOT / "notebooks" / "04_cifar10_optimizers.ipynb", copy_for_changes=True)
    assert not wrong_timed_lines(nb)
    for cell in nb.cells:  # the 46 s cell quoted as 80 s, the 146 s one as 4 minutes
        cell.source = cell.source.replace("about 45 s", "about 80 s").replace(
            "about 2 minutes", "about 4 minutes"
        )
    assert len(wrong_timed_lines(nb)) == 2


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_setup_cell_sets_the_process_wide_settings_explicitly(lesson):
    """OMP_WAIT_POLICY only acts if set before torch loads its OpenMP runtime (benchmarks/RESULTS.md)."""
    setup = next(c.source for c in read(lesson).cells if c.cell_type == "code" and "import torch" in c.source)
    policy = setup.find('os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")')
    where = f"{lesson.name}: set OMP_WAIT_POLICY before importing torch"
    assert 0 <= policy < setup.find("import torch"), where
    # the process-wide memory settings are an explicit call of the setup cell, not an import's side effect
    assert setup.find("cu.configure_process()") > setup.find("import course_utils as cu") >= 0, lesson.name


# --------------------------------------------------------------------------------------------
# Solutions cannot go stale: every notebook carries the stamp of the run that wrote its outputs
# (tools/run_notebooks.py: the profile, a digest of its values and recipes, a digest of the package).


@functools.cache
def _current_settings(profile: str, recipes: tuple[str, ...], fields: tuple[str, ...]) -> str:
    return run_notebooks.stamp(profile, list(recipes), fields=list(fields))["settings"]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_solutions_ran_with_their_lessons_settings_and_package(lesson):
    solution = ROOT / "notebooks" / "solutions" / f"{lesson.name[:2]}_solutions.ipynb"
    for path in (lesson, solution):
        nb = read(path)
        ran = nb.metadata.get("course")
        assert ran and "recipes" in ran, (
            f"{path.name} has no run stamp (or one from before recipes were stamped): re-execute it with "
            f"tools/run_notebooks.py --profile cpu {lesson.name[:2]}"
        )
        assert ran["profile"] == "cpu", f"{path.name}: committed outputs come from the cpu profile"
        assert ran["recipes"] == run_notebooks.recipes_used(nb), (
            f"{path.name} names other recipes than when it ran ({ran['recipes']}): re-execute it"
        )
        fields = tuple(run_notebooks.profile_fields_used(nb))
        assert ran["settings"] == _current_settings("cpu", tuple(ran["recipes"]), fields), (
            f"{path.name} ran with profile values or recipes ({ran['recipes']}) that the package no longer "
            f"has: re-execute the lesson and its solutions (tools/run_notebooks.py --profile cpu "
            f"{lesson.name[:2]})"
        )
    ours, theirs = (read(p).metadata["course"]["package"] for p in (lesson, solution))
    assert theirs == ours, (
        f"{solution.name} was executed with other package code than {lesson.name}: re-execute both "
        f"(tools/run_notebooks.py --profile cpu {lesson.name[:2]})"
    )


def test_the_stamp_changes_with_a_profile_value_and_a_named_recipe_only(monkeypatch):
    import course_utils as cu

    before = run_notebooks.stamp("cpu", ["unet_pets"])
    changed = dataclasses.replace(cu.config.PROFILES["cpu"], mnist_epochs=99)
    monkeypatch.setitem(cu.config.PROFILES, "cpu", changed)
    after = run_notebooks.stamp("cpu", ["unet_pets"])
    assert after["settings"] != before["settings"] and after["package"] == before["package"]
    faster = cu.RECIPES["resnet9"].replace(lr=0.123)
    monkeypatch.setitem(cu.RECIPES, "resnet9", faster)  # a recipe the stamp does not name
    assert run_notebooks.stamp("cpu", ["unet_pets"])["settings"] == after["settings"]
    monkeypatch.setitem(cu.RECIPES, "unet_pets", cu.RECIPES["unet_pets"].replace(lr=0.123))
    assert run_notebooks.stamp("cpu", ["unet_pets"])["settings"] != after["settings"]


def test_a_new_profile_field_does_not_make_a_notebook_that_ignores_it_stale(monkeypatch):
    import course_utils as cu

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("for seed in range(profile.cifar_seeds):\n    print(profile.name)")]
    fields = run_notebooks.profile_fields_used(nb)
    assert fields == sorted({"cifar_seeds", *run_notebooks.GLOBAL_FIELDS})
    before = run_notebooks.stamp("cpu", [], fields=fields)["settings"]
    ignored = dataclasses.replace(cu.config.PROFILES["cpu"], mnist_epochs=99)
    monkeypatch.setitem(cu.config.PROFILES, "cpu", ignored)
    assert run_notebooks.stamp("cpu", [], fields=fields)["settings"] == before
    read = dataclasses.replace(cu.config.PROFILES["cpu"], cifar_seeds=7)
    monkeypatch.setitem(cu.config.PROFILES, "cpu", read)
    assert run_notebooks.stamp("cpu", [], fields=fields)["settings"] != before


def test_recipes_used_reads_strings_and_f_strings():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('if True:\n    !pip install x\nr = cu.RECIPES["unet_pets"]'),
        nbformat.v4.new_code_cell('runs = [cu.RECIPES[f"skip_{kind}"] for kind in KINDS]\nx = f"{a}{b}"'),
        nbformat.v4.new_markdown_cell('"resnet9" in markdown does not count'),
    ]
    assert run_notebooks.recipes_used(nb) == ["skip_plain", "skip_residual", "unet_pets"]


def test_a_written_run_is_stamped_as_it_started_and_refused_if_the_package_changed(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('name = "unet_pets"\nprint(name)')]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    run_notebooks.execute(path, timeout=120, write=True)
    written = nbformat.read(path, as_version=4)
    fields = run_notebooks.GLOBAL_FIELDS  # the tiny notebook reads no field of its own
    assert written.metadata["course"] == run_notebooks.stamp("cpu", ["unet_pets"], fields=list(fields))
    assert written.cells[0].outputs[0]["text"] == "unet_pets\n"

    stamps = iter([{"package": "before"}, {"package": "after"}])  # an edit lands while the kernel runs
    monkeypatch.setattr(run_notebooks, "stamp", lambda *args: next(stamps))
    with pytest.raises(SystemExit, match="changed while the notebook ran; not written"):
        run_notebooks.execute(path, timeout=120, write=True)
    assert nbformat.read(path, as_version=4).metadata["course"] == written.metadata["course"]
