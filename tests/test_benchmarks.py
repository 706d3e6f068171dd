"""The benchmark scripts run (tiny settings), and the committed ResNet-14 checkpoint is what it says."""

import sys
from pathlib import Path

import pytest

import course_utils as cu
from course_utils.pretrained import PRETRAINED
from tests.conftest import REAL_DATA, has_real

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.parametrize("layout", [[], ["--pool-first"]])
def test_gpu_resnet9_quick_runs_on_cpu(tiny_data_dir, layout):
    import gpu_resnet9

    runs = gpu_resnet9.main(["--quick", "--device", "cpu", "--val-size", "50", *layout])
    assert len(runs) == 1 and 0.0 <= runs[0]["tta_acc"] <= 1.0 and runs[0]["train_s"] > 0


def test_run_notebooks_strips_widgets_and_finds_paths():
    import nbformat
    import run_notebooks

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={run_notebooks.WIDGET: {}, "text/plain": "bar"}),
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/someone/x.pt\n"),
    ]
    nb.cells.append(cell)
    nb.metadata["widgets"] = {"state": {}}
    run_notebooks.drop_progress_bars(nb)
    assert len(cell.outputs) == 1 and "widgets" not in nb.metadata
    assert run_notebooks.leaked_paths(nb) == ["/home/someone/x.pt"]


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_every_packaged_checkpoint_carries_its_recipe_and_the_command_that_makes_it(name):
    """One schema: the .pt metadata and the .json report are the same; the recipe is a registered one
    as its profile runs it (so a changed registry fails here); the command rebuilds that recipe."""
    import json
    import shlex

    from course_utils.pretrained import FOLDER
    from course_utils.train import cli

    model, meta = cu.load_pretrained(name)
    report = json.loads((FOLDER / f"{name}.json").read_text())
    assert (
        report["recipe"] == meta["recipe"] and report["test"] == meta["test"] and report["run"] == meta["run"]
    )
    recipe = meta["recipe"]
    registered = cu.RECIPES[recipe["name"]].for_profile(cu.get_profile(recipe["profile"], dry_run=False))
    assert recipe == registered.as_dict()
    assert (
        meta["epoch"]
        == meta["history"]["best_epoch"]
        == max(
            range(len(meta["history"]["metrics"]["val"])), key=meta["history"]["metrics"]["val"].__getitem__
        )
    )
    assert len(meta["history"]["losses"]["val"]) == recipe["epochs"]
    words = shlex.split(meta["run"]["command"])
    assert (
        words[:3] == ["python", "-m", "course_utils.train"]
        and words[-1] == f"course_utils/checkpoints/{name}"
    )
    args = cli._parser().parse_args(words[3:])
    assert (
        args.seed == meta["seed"] and (args.split_seed or 0) == 0
    )  # the unet pair shares its validation images
    rebuilt = cli._recipe(args, cli._parser(), cu.get_profile(args.profile, dry_run=False))
    assert rebuilt.as_dict() == recipe and args.precision == "fp32"
    assert len(meta["normalization"]) == 2 and all(len(v) == 3 for v in meta["normalization"])


@pytest.mark.real_data
@pytest.mark.skipif(not has_real("cifar10.npz"), reason="real CIFAR-10 archive not in COURSE_DATA_DIR")
def test_resnet14_checkpoint_accuracy_reproduces():
    """Re-evaluate on this machine: the stored test accuracy (measured on a GPU) must hold here."""
    model, meta = cu.load_pretrained("resnet14_cifar10")
    data = cu.load_cifar10(REAL_DATA)
    acc = cu.evaluate(model, cu.loaders.make_loaders(data, 1000)["test"])["acc"]
    assert abs(acc - meta["test"]["acc"]) <= 0.002  # a few images may flip between GPU and CPU
    assert acc >= 0.90


@pytest.mark.real_data
@pytest.mark.skipif(not has_real("pets/pets_seg.npz"), reason="real Pets archive not in COURSE_DATA_DIR")
def test_unet_checkpoint_reproduces_on_real_data():
    """The normalization it records is the data's, and its stored test IoU holds when re-measured."""
    model, meta = cu.load_pretrained("unet_pets")
    binary = cu.pets_binary(cu.load_pets(REAL_DATA))
    assert (binary.mean, binary.std) == meta["normalization"]
    test = cu.loaders.make_loaders(binary, 16, eval_batch_size=50)["test"]
    iou = cu.evaluate(model, test, metrics=[cu.metrics.BinaryIoU()])["iou"]
    assert abs(iou - meta["test"]["iou"]) <= 0.002
    assert iou >= 0.77  # notebook 06's self-check on this model (a single pass, as validation chose)
    second, meta2 = cu.load_pretrained("unet_pets_seed1")
    assert meta2["normalization"] == meta["normalization"]
    pair = cu.models.Ensemble([model, second])
    assert cu.evaluate(pair, test, metrics=[cu.metrics.BinaryIoU()])["iou"] >= 0.79  # notebook 06's pair


def test_cli_help_runs(monkeypatch, capsys):
    """``python -m course_utils.train --help``, run as that command runs it (its ``__main__``), in this
    process. torchrun's ``record`` wrapper turns argparse's exit 0 into a return."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["python -m course_utils.train", "--help"])
    runpy.run_module("course_utils.train", run_name="__main__", alter_sys=True)
    assert "--schedule" in capsys.readouterr().out


def test_benchmark_helpers(tmp_path):
    import run

    flops = run.training_flops_per_image(cu.LeNet5(in_channels=3, input_size=32))
    assert 1e6 < flops < 1e8  # LeNet-5 on 32x32: about 0.6 MFLOP forward, x3 with backward
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nhand-written notes\n")
    run.write_results(results, [("A", ["| a |"])], "header one", "AVX2")
    run.write_results(results, [("B", ["| b |"])], "header two", "AVX2")  # replaces the generated part only
    run.write_results(
        results, [("C", ["| c |"])], "header three", "AVX-512 BF16"
    )  # another class: kept apart
    text = results.read_text()
    assert "hand-written notes" in text and "header two" in text and "header one" not in text
    assert text.count(run.MARKER.format("AVX2", "begin")) == 1 and "header three" in text


def test_notebook_benchmark_merges_rows_and_finds_the_longest_cell(tmp_path):
    import bench_notebooks
    import nbformat

    nb = nbformat.v4.new_notebook()
    for start, stop in (("00:00:00", "00:00:02"), ("00:00:02", "00:01:32"), ("00:01:32", "00:01:33")):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["execution"] = {
            "iopub.execute_input": f"2026-11-27T{start}.000000Z",
            "shell.execute_reply": f"2026-11-27T{stop}.000000Z",
        }
        nb.cells.append(cell)
    assert bench_notebooks.longest_cell(nb) == (90.0, 2)

    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nnotes\n")
    from run_notebooks import Run

    run = Run(seconds=700.0, peak_mb=1000.0, notebook=nb)
    first = bench_notebooks.rows({"01_a.ipynb": run, "02_b.ipynb": run}, "day 1")
    assert "90 s (code cell 2)" in first["01_a.ipynb"] and "**no**" in first["01_a.ipynb"]  # 700 s > 600 s
    bench_notebooks.write_results(results, "lessons, AVX2", "### title", "machine one", first)
    quick = Run(seconds=100.0, peak_mb=1000.0, notebook=nb)
    second = bench_notebooks.rows({"02_b.ipynb": quick}, "day 2")
    bench_notebooks.write_results(results, "lessons, AVX2", "### title", "machine two", second)
    text = results.read_text()
    assert text.startswith("# Results\n\nnotes\n") and text.count("### title") == 1
    assert "| 01_a.ipynb | 700 s |" in text and "day 1" in text  # the row not re-run stays
    assert "| 02_b.ipynb | 100 s |" in text and "| 02_b.ipynb | 700 s" not in text  # the re-run replaces
    assert "machine two" in text and "machine one" not in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_malloc_benchmark_measures_a_step_in_a_fresh_process(monkeypatch, capsys):
    import malloc_steps

    monkeypatch.setattr(malloc_steps, "STEPS", 1)
    step, peak = malloc_steps.measure("resnet9", "mmap 16 MiB + trim 128 MiB")
    assert 0 < step < 60 and peak > 100  # a real step of a real model; torch alone holds more than 100 MB
    with pytest.raises(SystemExit) as stop:
        malloc_steps.main(["lenet"])
    message = "unknown model 'lenet': choose from unet, resnet14, resnet9"
    assert stop.value.code == 2 and message in capsys.readouterr().err


def _rows(text: str, begin: str, end: str) -> list[list[str]]:
    """The body rows of the Markdown table between two marker lines, as lists of cells."""
    table = text.split(begin, 1)[1].split(end, 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()]
    return [r for r in rows if r[0].startswith(("[0", "0"))]


EMULATED = "lessons, AVX2 (emulated: ATEN_CPU_CAPABILITY=avx2)"


def test_the_readme_map_quotes_the_committed_timings():
    """The README's notebook map (which the site's landing page includes) gives each lesson's `cpu` time
    as benchmarks/RESULTS.md records it for the AVX2 class, and names the largest peak memory there. A
    lesson not yet timed on an AVX2-only machine quotes its time with AVX2 kernels emulated, and says so."""
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    measured = {
        row[0].removesuffix(".ipynb"): (row[1], row[2])
        for row in _rows(
            results, "<!-- notebooks lessons, AVX2: begin -->", "<!-- notebooks lessons, AVX2: end -->"
        )
    }
    begin, end = f"<!-- notebooks {EMULATED}: begin -->", f"<!-- notebooks {EMULATED}: end -->"
    for row in _rows(results, begin, end) if begin in results else []:
        measured.setdefault(row[0].removesuffix(".ipynb"), (f"{row[1]} (AVX2 emulated)", row[2]))
    quoted = {
        row[0].split("(notebooks/", 1)[1].split(".ipynb", 1)[0]: row[2]
        for row in _rows(readme, "<!-- notebook map: begin -->", "<!-- notebook map: end -->")
    }
    assert quoted.keys() == measured.keys() and len(quoted) >= 8
    assert {name: wall for name, (wall, _) in measured.items()} == quoted
    peak = max(measured.items(), key=lambda item: int(item[1][1].split()[0].replace(",", "")))
    assert f"the largest peak was {peak[0][:2]}'s, {peak[1][1]}" in " ".join(readme.split())


def test_the_long_cells_table_is_the_committed_runs():
    """RESULTS.md's "Long cells", which the lessons' "⏱" lines cite, lists what the committed outputs hold
    (`python benchmarks/bench_notebooks.py --long-cells` rewrites it)."""
    import bench_notebooks

    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    table = results.split("<!-- long cells: begin -->\n", 1)[1].split("\n<!-- long cells: end -->", 1)[0]
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert table.splitlines() == bench_notebooks.long_cells(lessons)


def test_block_costs_prints_every_block_and_family_with_a_measured_rate(capsys):
    import block_costs

    block_costs.main(["--macs", "2e6", "--min-run-time", "0.01"])
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line
    ]
    names = [r.split(" | ")[0].removeprefix("| ") for r in rows]
    assert len(rows) == 2 + len(block_costs.BLOCKS) + len(block_costs.FAMILIES)  # two headers
    assert "dense 3x3 conv" in names and any(n.startswith("convnext (") for n in names)
    rates = [float(r.rstrip(" |").rsplit("| ", 1)[1]) for r in rows if "GMAC/s" not in r]
    assert all(rate > 0 for rate in rates)
