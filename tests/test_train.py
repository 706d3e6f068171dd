import json

import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils.data import Split


def blobs(n=256, seed=0):
    """A learnable toy problem: the class is the brightest quadrant of an 8x8 image."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 120, (n, 1, 8, 8), generator=gen, dtype=torch.uint8)
    y = torch.arange(n) % 4
    for i, cls in enumerate(y.tolist()):
        r, c = divmod(cls, 2)
        x[i, 0, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] += 120
    return Split(x, y)


def tiny_net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 4),
        nn.LogSoftmax(dim=1),
    )


def loaders(seed=0):
    common = dict(mean=(0.3,), std=(0.2,))
    return {
        "train": cu.TensorLoader(blobs(256), 32, shuffle=True, seed=seed, **common),
        "val": cu.TensorLoader(blobs(64, seed=1), 64, **common),
    }


def train(epochs=5, lr=0.05, **kwargs):
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return cu.train_val_model(
        model, nn.NLLLoss(), optimizer, loaders(), epochs, log_interval=0, progress=False, **kwargs
    )


@pytest.fixture(scope="module")
def trained():
    """One 5-epoch training of the tiny net, shared by the tests that only read it."""
    return train(epochs=5)


def test_training_learns_and_returns_the_reference_shape(trained):
    model, losses, accs = result = trained
    assert set(losses) == set(accs) == {"train", "val"}
    assert all(isinstance(v, float) for v in losses["train"] + accs["val"])
    assert losses["train"][-1] < losses["train"][0] and accs["val"][-1] > 0.9
    h = result.history
    assert h.epochs == 5 and len(h.epoch_times) == 5 and all(t > 0 for t in h.epoch_times)
    assert h.best_val == max(accs["val"]) and accs["val"][h.best_epoch] == h.best_val


def test_best_validation_weights_are_restored(trained):
    model, _, accs = result = trained
    val = cu.evaluate(model, loaders()["val"])
    assert val["acc"] == pytest.approx(accs["val"][result.history.best_epoch])


def test_same_seed_same_history(trained):
    again = train(epochs=5)
    assert again[1] == trained[1] and again[2] == trained[2]


def test_the_loop_written_by_hand_gives_the_same_history(trained):
    """What notebook 02 shows: the package's loop is the textbook loop (its first two epochs here)."""
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data, criterion = loaders(), nn.NLLLoss()
    val_accs = []
    for _ in range(2):
        model.train()
        for x, y in data["train"]:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in data["val"])
        val_accs.append(correct / len(data["val"].dataset))
    assert val_accs == pytest.approx(trained[2]["val"][:2], abs=1e-12)


def test_the_duration_is_rounded_before_it_is_split_into_minutes():
    from course_utils.train.loop import _format_duration

    assert _format_duration(479.6) == "8m 0s"
    assert _format_duration(479.4) == "7m 59s"
    assert _format_duration(61) == "1m 1s"


def test_interrupt_returns_partial_history(capsys):
    class StopAfter:
        def __init__(self, inner, batches):
            self.inner, self.batches, self.dataset = inner, batches, inner.dataset

        def __len__(self):
            return len(self.inner)

        def __iter__(self):
            for batch in self.inner:
                if self.batches == 0:
                    raise KeyboardInterrupt
                self.batches -= 1
                yield batch

    cu.seed_everything(0)
    model = tiny_net()
    data = loaders()
    data["train"] = StopAfter(data["train"], batches=len(data["train"]) * 2 + 3)  # mid epoch 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model, losses, _ = result = cu.train_val_model(
        model, nn.NLLLoss(), optimizer, data, 10, log_interval=0, progress=False
    )
    assert result.history.interrupted and len(losses["train"]) == 2
    assert "history of 2 epoch(s)" in capsys.readouterr().out


@pytest.mark.parametrize("step", ["batch", "epoch"])
def test_the_caller_says_how_the_scheduler_steps(step):
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = loaders()
    scheduler = cu.optim.triangle_schedule(optimizer, 0.1, total_steps=2 * len(data["train"]), warmup=0.25)
    result = cu.train_val_model(
        model, nn.NLLLoss(), optimizer, data, 2, scheduler, log_interval=0, step=step, progress=False
    )
    # a per-step LambdaLR: stepped every batch only when the caller says so
    assert scheduler.last_epoch == (2 * len(data["train"]) if step == "batch" else 2)
    if step == "batch":
        assert result.history.lrs[-1] == pytest.approx(0.0)


def test_onecycle_anneals_when_stepped_every_batch():
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = loaders()
    scheduler = cu.one_cycle(optimizer, 0.1, epochs=2, steps_per_epoch=len(data["train"]))
    result = cu.train_val_model(
        model, nn.NLLLoss(), optimizer, data, 2, scheduler, log_interval=0, step="batch", progress=False
    )
    assert max(result.history.lrs) <= 0.1 and result.history.lrs[-1] < 0.01


def test_reduce_on_plateau_steps_with_the_validation_loss():
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    train_kwargs = dict(log_interval=0, step="val_loss", progress=False)
    cu.train_val_model(model, nn.NLLLoss(), optimizer, loaders(), 2, plateau, **train_kwargs)
    assert plateau.best < float("inf")  # it saw validation losses


def test_segmentation_metrics():
    logits = torch.tensor([[[2.0, -1.0], [3.0, 5.0]]])  # predicted: 1 0 / 1 1
    target = torch.tensor([[[1, 1], [0, 255]]], dtype=torch.uint8)
    tp, union = cu.metrics.BinaryIoU()(logits, target)
    assert (tp.item(), union.item()) == (1, 3)  # ignored pixel left out
    num, den = cu.metrics.BinaryDice()(logits, target)
    assert num.item() / den.item() == pytest.approx(2 / 4)
    num, den = cu.metrics.PixelAccuracy()(logits, target)
    assert (num.item(), den.item()) == (1, 3)
    loss = cu.losses.BCEDiceLoss()(logits.unsqueeze(1), target)
    assert torch.isfinite(loss) and loss > 0


def test_confusion_matrix_counts():
    matrix = cu.confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_predict_and_flip_tta():
    model = tiny_net().eval()
    outputs, targets = cu.predict(model, loaders()["val"])
    assert outputs.shape == (64, 4) and torch.equal(targets, blobs(64, seed=1).y)
    x = torch.randn(3, 1, 8, 8)
    tta = cu.FlipTTA(model, dense=False)(x)
    assert torch.allclose(tta, (model(x) + model(x.flip(-1))) / 2)
    dense_model = nn.Conv2d(1, 1, 3, padding=1)
    dense = cu.FlipTTA(dense_model, dense=True)(x)
    assert torch.allclose(dense, (dense_model(x) + dense_model(x.flip(-1)).flip(-1)) / 2, atol=1e-6)


def test_ensemble_averages_its_members_and_refuses_fewer_than_two():
    torch.manual_seed(0)
    members = [nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)]
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        mean = sum(m(x) for m in members) / 3
        assert torch.allclose(cu.models.Ensemble(members)(x), mean, atol=1e-6)
        both = cu.FlipTTA(cu.models.Ensemble(members), dense=True)(x)
        assert torch.allclose(both, (mean + sum(m(x.flip(-1)) for m in members).flip(-1) / 3) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="at least two nn.Module"):
        cu.models.Ensemble(members[:1])
    with pytest.raises(ValueError, match="at least two nn.Module"):
        cu.models.Ensemble([members[0], "model_b"])


def test_make_optimizer_builds_each_kind_and_param_groups():
    params = [nn.Parameter(torch.zeros(2))]
    kinds = {
        name: type(cu.make_optimizer(name, params, 0.1)) for name in ("sgd", "nesterov", "adam", "adamw")
    }
    assert kinds == {
        "sgd": torch.optim.SGD,
        "nesterov": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
    }
    assert cu.make_optimizer("nesterov", params, 0.1).param_groups[0]["nesterov"] is True
    groups = [
        {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.01},
        {"params": [nn.Parameter(torch.zeros(1))]},
    ]
    opt = cu.make_optimizer("adam", groups, 0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_the_cpu_trains_and_evaluates(precision):
    """bf16 autocast, and fp16 autocast with the gradient scaler train_val_model makes (a T4's path)."""
    result = train(epochs=2, precision=precision)
    assert result[2]["val"][-1] > 0.5
    assert cu.evaluate(result[0], loaders()["val"], precision=precision)["acc"] > 0.5


def test_fp16_training_needs_a_gradient_scaler_and_precision_is_checked():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="precision='fp16' trains with a gradient scaler: pass scaler="):
        cu.run_epoch(model, loaders()["train"], nn.NLLLoss(), optimizer=optimizer, precision="fp16")
    with pytest.raises(ValueError, match="precision must be fp32, bf16 or fp16"):
        cu.evaluate(model, loaders()["val"], precision="half")


def test_checkpoint_round_trip(tmp_path):
    model = cu.LeNet5()
    path = cu.train.save_checkpoint(
        tmp_path / "m.pt", model, history={"best_epoch": 3}, test={"acc": 0.5}, report=True
    )
    x = torch.randn(2, 1, 28, 28)
    loaded, meta = cu.train.load_checkpoint(path)  # rebuilt from the metadata
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    assert meta["epoch"] == 3 and meta["arch"] == "lenet5" and "torch" in meta["versions"]
    assert json.loads(path.with_suffix(".json").read_text()) == meta  # one schema: the report is the metadata
    assert not list(tmp_path.glob(".m.pt.*"))  # no temporary file left behind


def test_any_course_model_built_directly_saves_and_reloads(tmp_path):
    unet = cu.models.UNet(
        3, 1, base_channels=4, batch_norm=True
    )  # no registry call, no attributes set by hand
    path = cu.train.save_checkpoint(tmp_path / "unet.pt", unet)
    loaded, meta = cu.train.load_checkpoint(path)
    assert meta["model_args"] == unet.model_args and isinstance(loaded, cu.models.UNet)
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(unet.eval()(x), loaded.eval()(x))
    plain = cu.ResNet("plain", [1, 1, 1])
    loaded, _ = cu.train.load_checkpoint(cu.train.save_checkpoint(tmp_path / "plain.pt", plain))
    assert isinstance(loaded.layer1[0], cu.models.PlainBlock)


def test_checkpoint_into_the_wrong_architecture(tmp_path):
    path = cu.train.save_checkpoint(tmp_path / "m.pt", cu.LeNet5())
    with pytest.raises(cu.train.CheckpointError, match="lenet5"):
        cu.train.load_checkpoint(path, cu.MiniVGGNet())
    with pytest.raises(cu.train.CheckpointError, match="dropout=0.5"):
        cu.train.load_checkpoint(path, cu.LeNet5(dropout=0.5))  # same weights, another network
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(cu.train.CheckpointError, match="Cannot read"):
        cu.train.load_checkpoint(tmp_path / "bad.pt")


def test_the_packaged_checkpoint_loads_and_is_verified(monkeypatch, tmp_path):
    model, meta = cu.load_pretrained("resnet14_cifar10")
    assert isinstance(model, cu.ResNet) and meta["model_args"]["layers"] == [2, 2, 2]
    assert meta["test"]["acc"] >= 0.90 and meta["recipe"]["name"] == "resnet14"
    from course_utils import pretrained

    corrupt = tmp_path / "resnet14_cifar10.pt"
    corrupt.write_bytes((pretrained.FOLDER / "resnet14_cifar10.pt").read_bytes()[:-10])
    (tmp_path / "resnet14_cifar10.json").write_bytes(
        (pretrained.FOLDER / "resnet14_cifar10.json").read_bytes()
    )
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    with pytest.raises(cu.train.CheckpointError, match="resnet14_cifar10.pt is corrupt"):
        cu.load_pretrained("resnet14_cifar10")
    corrupt.unlink()
    with pytest.raises(cu.train.CheckpointError, match="resnet14_cifar10.pt is missing"):
        cu.load_pretrained("resnet14_cifar10")
    with pytest.raises(ValueError, match="available"):
        cu.load_pretrained("alexnet")


def run_cli(tmp_path, *options):
    from course_utils.train.cli import main

    out = tmp_path / "run" / "lenet"
    base = ["--model", "lenet5", "--data", "mnist", "--epochs", "1", "--batch-size", "64", "--lr", "0.01"]
    report = main([*base, "--val-size", "50", "--out", str(out), "--quiet", "--device", "cpu", *options])
    return out, report


@pytest.mark.parametrize("layout", [["--no-channels-last"], ["--channels-last"]])
def test_command_line_trains_and_writes(tiny_data_dir, tmp_path, layout):
    out, report = run_cli(tmp_path, *layout)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["test"] == report["test"] and len(saved["history"]["losses"]["train"]) == 1
    model, meta = cu.train.load_checkpoint(out.with_suffix(".pt"))
    assert meta["recipe"]["model"] == "lenet5" and meta["recipe"]["name"] == "custom"
    assert ("| channels_last" in meta["run"]["runtime"]) is (layout == ["--channels-last"])
    assert meta["run"]["command"].startswith("python -m course_utils.train --model lenet5")


def test_command_line_trains_the_unet_recipe(tiny_data_dir, tmp_path):
    from course_utils.train.cli import main

    out = tmp_path / "unet"
    report = main(["--recipe", "unet_pets", "--epochs", "1", "--val-size", "5", "--out", str(out), "--quiet"])
    assert set(report["test"]) == {"loss", "iou"} and report["recipe"]["loss"] == "bce_dice"
    model, meta = cu.train.load_checkpoint(out.with_suffix(".pt"))
    assert isinstance(model, cu.models.UNet) and meta["model_args"]["base_channels"] == 16  # the full profile
    pets = cu.recipes.load_data(cu.RECIPES["unet_pets"], val_size=5)
    assert meta["normalization"] == [list(pets.mean), list(pets.std)]


def _resident_mb() -> float:
    import re

    status = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024


@pytest.mark.skipif(cu._memory._LIBC is None, reason="glibc only: elsewhere it only collects garbage")
def test_release_memory_hands_freed_blocks_back():
    """Blocks freed in the middle of the heap stay resident until release_memory trims them."""
    cu.configure_process()  # fixes the mmap threshold at 16 MiB: 1 MiB blocks live in the heap
    blocks = [torch.ones(2**18) for _ in range(300)]  # 300 blocks of 1 MiB, written, so resident
    kept = blocks[1::2]
    del blocks
    before = _resident_mb()
    cu.release_memory()
    after = _resident_mb()
    assert len(kept) == 150 and before - after > 100  # about 150 MiB of freed blocks go back


_FRESH_HEAP_PROBE = """
import re, sys, torch, course_utils as cu
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024
if sys.argv[1] == "large":
    for mib in (32, 24):  # glibc maps these on its own and, as they are freed, raises its threshold:
        earlier = torch.ones(mib * 2**18)  # from then on, 24 MiB blocks would stay in the heap
        del earlier
cu.configure_process()
cu.release_memory()
start = rss()
if sys.argv[1] == "large":
    large = torch.ones(24 * 2**18)  # 24 MiB, written
    print(rss() - start)
    del large
else:
    small = [torch.ones(2**18) for _ in range(80)]  # 80 MiB of 1 MiB blocks in the heap
    del small
print(rss() - start)
cu.release_memory()
print(rss() - start)
"""


def _fresh_heap_probe(case: str) -> list[float]:
    """Resident MB above the start at each print of the probe, run in a fresh interpreter."""
    import subprocess
    import sys

    command = [sys.executable, "-c", _FRESH_HEAP_PROBE, case]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [float(x) for x in out.split()]


@pytest.mark.skipif(cu._memory._LIBC is None, reason="glibc only")
def test_large_blocks_go_back_at_once_even_after_glibc_raised_its_threshold():
    """cu.configure_process's malloc settings: a 24 MiB tensor is mapped on its own and returned when freed.

    Each case runs in a fresh interpreter, as a notebook does: in a long-lived process (this test
    session), a free chunk that earlier work left in the heap can serve the tensor instead of its own
    mapping, and the two settings' effects depend on what came before."""
    with_large, after_large, _ = _fresh_heap_probe("large")
    assert with_large > 20 and after_large < 10  # 24 MiB resident, then back without any call


@pytest.mark.skipif(cu._memory._LIBC is None, reason="glibc only")
def test_the_free_heap_top_waits_for_release_memory():
    """cu.configure_process's malloc settings: the freed top of the heap (1 MiB blocks) stays for the next
    training step, until release_memory hands it back.

    Measured: this fails with both settings removed; with only the trim threshold removed it passes
    here, as what importing torch leaves behind already keeps the heap top in a fresh interpreter (in
    a long-lived process it did not). The setting makes this independent of that history."""
    kept, released = _fresh_heap_probe("small")
    assert kept > 60 and kept - released > 60


def test_split_seed_keeps_the_validation_images_while_seed_changes(tiny_data_dir, tmp_path, monkeypatch):
    """Through the command line: the validation images it trains against follow --split-seed, else --seed."""
    from course_utils.train import cli

    seen = []

    def recorded(*args, **kwargs):
        data = cu.recipes.load_data(*args, **kwargs)
        seen.append(data.val.x)
        return data

    monkeypatch.setattr(cli, "load_data", recorded)
    common = ["--recipe", "unet_pets", "--epochs", "1", "--val-size", "5", "--max-train", "4", "--quiet"]
    for options in (["--seed", "1", "--split-seed", "0"], ["--seed", "0"], ["--seed", "1"]):
        cli.main([*common, "--out", str(tmp_path / "u"), *options])
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[2], seen[1])


def test_epochs_are_counted_from_one_in_what_the_trainer_prints(capsys):
    split = Split(torch.randint(0, 255, (32, 1, 8, 8), dtype=torch.uint8), torch.randint(0, 2, (32,)))
    loaders = {k: cu.TensorLoader(split, 16, (0.5,), (0.5,)) for k in ("train", "val")}
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2), nn.LogSoftmax(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = cu.train_val_model(model, nn.NLLLoss(), opt, loaders, 2, log_interval=None, progress=False)
    history = result.history
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "Epoch 0/" not in out
    assert f"at epoch {history.best_epoch + 1} of 2." in out


def test_one_cycle_keeps_the_optimizers_momentum_when_asked():
    def momenta(cycle):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        schedule = cu.one_cycle(opt, 0.1, 2, 10, cycle_momentum=cycle)
        seen = []
        for _ in range(20):
            seen.append(opt.param_groups[0]["momentum"])
            opt.step()
            schedule.step()
        return seen

    assert set(momenta(False)) == {0.9}
    assert max(momenta(True)) == pytest.approx(0.95) and min(momenta(True)) < 0.86  # PyTorch's default
