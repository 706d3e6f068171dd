"""Training in several processes: ``torchrun -m course_utils.train`` with DistributedDataParallel.

The launches (marker ``torchrun``) start two CPU processes (gloo) with
``python -m torch.distributed.run --standalone`` on the tiny archives (``tiny_data_dir``), and compare
them with one plain process given the same global batch. What needs no second process (the refusal of
uneven steps, the shards, the reductions) is tested in this one, with a patched process group where
needed. The equality runs use LeNet-5, which has no batch-norm: two processes then compute the same
gradient as one (DDP averages the two half-batch means), and only the order of float additions
differs. Hence the stated tolerances: weights within 1e-6, losses within a relative 1e-5, accuracies
within one image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils.train import distributed
from course_utils.train.cli import main
from tests.test_train import loaders, tiny_net

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds: a launch that hangs fails the test (a shared 2-core machine starts slowly)
WEIGHTS_ATOL = 1e-6
LOSS_RTOL = 1e-5
LENET = ["--model", "lenet5", "--data", "mnist", "--val-size", "50", "--device", "cpu", "--quiet"]
LENET += ["--precision", "fp32", "--no-channels-last"]  # the same arithmetic everywhere (auto may pick bf16)


def torchrun(*args: str, script: tuple[str, ...] = ("-m", "course_utils.train")):
    """Run ``script args`` in two CPU processes under torchrun; return (completed process, seconds)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}  # 1 thread each: 2 cores in all
    tic = time.perf_counter()
    done = subprocess.run(
        [*command, *script, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=ROOT
    )
    return done, time.perf_counter() - tic


def train_both(tmp_path: Path, *options: str) -> tuple[dict, dict]:
    """The same command line in one process and in two; both JSON reports (one, two)."""
    one, two = tmp_path / "one", tmp_path / "two"
    main([*LENET, *options, "--out", str(one)])
    done, _ = torchrun(*LENET, *options, "--out", str(two))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone prints (and writes)
    return json.loads(one.with_suffix(".json").read_text()), json.loads(two.with_suffix(".json").read_text())


def assert_same_history(one: dict, two: dict) -> None:
    for phase in ("train", "val"):
        assert two["losses"][phase] == pytest.approx(one["losses"][phase], rel=LOSS_RTOL)
        assert two["metrics"][phase] == pytest.approx(one["metrics"][phase], abs=1 / 50)  # one image


@pytest.mark.torchrun
def test_one_step_in_two_processes_equals_one_process(tiny_data_dir, tmp_path):
    """64 images, a global batch of 64: one epoch is one step (32 images in each process)."""
    one, two = train_both(tmp_path, "--max-train", "64", "--batch-size", "64", "--epochs", "1")
    assert (one["run"]["processes"], two["run"]["processes"]) == (1, 2)
    assert_same_history(one["history"], two["history"])
    assert two["test"]["loss"] == pytest.approx(one["test"]["loss"], rel=LOSS_RTOL)
    single, _ = cu.train.load_checkpoint(tmp_path / "one.pt")
    model, meta = cu.train.load_checkpoint(tmp_path / "two.pt")  # written under torchrun, read in one process
    assert isinstance(model, cu.LeNet5) and meta["recipe"]["batch_size"] == 64
    for name, weight in single.state_dict().items():
        assert torch.allclose(model.state_dict()[name], weight, rtol=0, atol=WEIGHTS_ATOL), name


@pytest.mark.torchrun
def test_loss_history_of_two_processes_matches_one_process(tiny_data_dir, tmp_path):
    """250 images, global batch 64: four steps an epoch (the last of 58 images, 29 in each process)."""
    options = ["--max-train", "256", "--batch-size", "64", "--epochs", "3", "--optimizer", "adam"]
    one, two = train_both(tmp_path, *options, "--lr", "0.003", "--schedule", "onecycle")
    assert len(two["history"]["losses"]["train"]) == 3
    assert_same_history(one["history"], two["history"])
    assert two["history"]["lrs"] == pytest.approx(one["history"]["lrs"])  # same steps: same schedule


@pytest.mark.torchrun
def test_the_unet_recipe_under_torchrun(tiny_data_dir, tmp_path):
    out = tmp_path / "unet"
    done, _ = torchrun(
        "--recipe", "unet_pets", "--epochs", "1", "--val-size", "5", "--quiet", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["test"]) == {"loss", "iou"} and report["run"]["processes"] == 2
    model, meta = cu.train.load_checkpoint(out.with_suffix(".pt"))
    assert isinstance(model, cu.models.UNet) and meta["model_args"]["batch_norm"] is True


@pytest.mark.torchrun
def test_a_failing_rank_ends_the_whole_run(tiny_data_dir, tmp_path):
    """Rank 1 raises after one step; rank 0 waits in the next all-reduce. torchrun must stop both,
    with a non-zero status and the message, well before the timeout."""
    out = tmp_path / "fail"
    script = (str(ROOT / "tests" / "ddp_failing_rank.py"),)
    done, seconds = torchrun(*LENET, "--epochs", "2", "--batch-size", "64", "--out", str(out), script=script)
    assert done.returncode != 0
    assert "rank 1 fails on purpose after one training step" in done.stderr
    assert seconds < TIMEOUT / 2
    assert not out.with_suffix(".pt").exists() and not out.with_suffix(".json").exists()


def test_uneven_steps_are_refused(tiny_data_dir, tmp_path, monkeypatch, capsys):
    """65 images, global batch 64: the last step would give rank 0 one image and rank 1 none. Rank 0's
    side, in this process with a patched process group: it counts 2 steps (33 images), rank 1 counts 1."""
    import torch.distributed as dist

    from course_utils.train import cli

    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(distributed, "setup", lambda launch, device: device)
    monkeypatch.setattr(distributed, "teardown", lambda: None)
    monkeypatch.setattr(distributed, "_collective_device", lambda: torch.device("cpu"))
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    rank_1 = torch.tensor([1, -1])  # [steps, -steps] of rank 1's shard

    def all_reduce(counts, op):  # the collective between rank 0 (this process) and rank 1, for MAX only
        assert op == dist.ReduceOp.MAX, f"the step counts must be reduced with MAX, got {op}"
        counts.copy_(torch.maximum(counts, rank_1))

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    out = tmp_path / "uneven"
    with pytest.raises(SystemExit) as stop:
        cli.main([*LENET, "--epochs", "1", "--max-train", "65", "--batch-size", "64", "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "(rank 0 of 2)" in err
    assert "fewer than the 2 processes" in err and "--max-train 64" in err
    assert not out.with_suffix(".pt").exists()


# -- the pieces, in one process ----------------------------------------------------------------
def test_shards_never_overlap_and_cover_every_epoch():
    split = cu.data.Split(torch.zeros(50, 1, 4, 4, dtype=torch.uint8), torch.arange(50))
    whole = cu.TensorLoader(split, 8, (0.5,), (0.5,), shuffle=True, seed=3)
    shards = [
        cu.TensorLoader(split, 8, (0.5,), (0.5,), shuffle=True, seed=3, shard=(rank, 3)) for rank in range(3)
    ]
    assert [len(s) for s in shards] == [3, 3, 2]  # 17, 17 and 16 images
    for _ in range(2):  # two epochs, two orders
        order = torch.cat([y for _, y in whole])
        mine = [torch.cat([y for _, y in shard]) for shard in shards]
        for rank in range(3):
            assert torch.equal(mine[rank], order[rank::3])
        assert sorted(torch.cat(mine).tolist()) == list(range(50))


def test_shard_is_rank_and_world_size():
    split = cu.data.Split(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10))
    for shard in [(2, 2), (-1, 2), (0, 0), (0.5, 2), 3]:
        with pytest.raises(ValueError, match=r"shard must be \(rank, world_size\)"):
            cu.TensorLoader(split, 4, (0.5,), (0.5,), shard=shard)


def test_reduce_sums_the_epoch_over_processes():
    """Two processes holding the same shard: doubled sums give the same means."""
    cu.seed_everything(0)
    model, data = tiny_net(), loaders()
    alone = cu.evaluate(model, data["val"], nn.NLLLoss())

    class Twice(cu.train.Callback):  # what DDPSync's all-reduce gives when two processes hold the same sums
        def reduce_sums(self, sums):
            return 2 * sums

    doubled = cu.evaluate(model, data["val"], nn.NLLLoss(), callbacks=[Twice()])
    assert doubled == pytest.approx(alone, rel=1e-12)


def test_global_batch_splits_evenly():
    assert distributed.per_process_batch(128, 2) == 64
    with pytest.raises(ValueError, match=r"--batch-size\) of 100 does not split evenly among 3.*99 or 102"):
        distributed.per_process_batch(100, 3)


def test_launch_and_device_rules():
    assert distributed.launch_from_environment({}) is None
    launch = distributed.launch_from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert launch.shard == (1, 2) and not launch.is_main
    assert distributed.process_device(launch, torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="each process takes cuda:LOCAL_RANK"):
        distributed.process_device(launch, torch.device("cuda", 0))
    with pytest.raises(ValueError, match="give --device cuda or --device cpu"):
        distributed.process_device(launch, torch.device("mps"))
    with pytest.raises(ValueError, match="--sync-bn .* needs CUDA"):
        distributed.wrap(cu.models.UNet(3, 1, base_channels=4), torch.device("cpu"), sync_bn=True)
