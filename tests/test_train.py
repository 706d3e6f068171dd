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


def test_training_learns_and_returns_the_seed_shape():
    model, losses, accs = result = train()
    assert set(losses) == set(accs) == {"train", "val"}
    assert all(isinstance(v, float) for v in losses["train"] + accs["val"])
    assert losses["train"][-1] < losses["train"][0] and accs["val"][-1] > 0.9
    h = result.history
    assert h.epochs == 5 and len(h.epoch_times) == 5 and all(t > 0 for t in h.epoch_times)
    assert h.best_val == max(accs["val"]) and accs["val"][h.best_epoch] == h.best_val


def test_best_validation_weights_are_restored():
    model, _, accs = result = train(epochs=4)
    val = cu.evaluate(model, loaders()["val"])
    assert val["acc"] == pytest.approx(accs["val"][result.history.best_epoch])


def test_same_seed_same_history():
    a, b = train(epochs=3), train(epochs=3)
    assert a[1] == b[1] and a[2] == b[2]


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
    assert "Interrupted during epoch 2" in capsys.readouterr().out


def test_nan_loss_stops_with_advice():
    with pytest.raises(cu.TrainingDiverged, match="lower learning rate"):
        train(lr=float("nan"))


def test_onecycle_steps_every_batch():
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = loaders()
    scheduler = cu.one_cycle(optimizer, 0.1, epochs=2, steps_per_epoch=len(data["train"]))
    _, _, _ = result = cu.train_val_model(
        model, nn.NLLLoss(), optimizer, data, 2, scheduler, log_interval=0, progress=False
    )
    assert scheduler.last_epoch == 2 * len(data["train"])  # one step per batch
    assert max(result.history.lrs) <= 0.1 and result.history.lrs[-1] < 0.01  # annealed


def test_missing_validation_loader_is_explained():
    model = tiny_net()
    with pytest.raises(ValueError, match="'val'"):
        cu.train_val_model(
            model,
            nn.NLLLoss(),
            torch.optim.SGD(model.parameters(), 0.1),
            {"train": loaders()["train"]},
            1,
        )


def test_segmentation_metrics():
    logits = torch.tensor([[[2.0, -1.0], [3.0, 5.0]]])  # predicted: 1 0 / 1 1
    target = torch.tensor([[[1, 1], [0, 255]]], dtype=torch.uint8)
    tp, union = cu.BinaryIoU()(logits, target)
    assert (tp.item(), union.item()) == (1, 3)  # ignored pixel left out
    num, den = cu.BinaryDice()(logits, target)
    assert num.item() / den.item() == pytest.approx(2 / 4)
    num, den = cu.PixelAccuracy()(logits, target)
    assert (num.item(), den.item()) == (1, 3)
    loss = cu.BCEDiceLoss()(logits.unsqueeze(1), target)
    assert torch.isfinite(loss) and loss > 0


def test_checkpoint_round_trip(tmp_path):
    model = cu.build_model("lenet5")
    path = cu.save_checkpoint(tmp_path / "m.pt", model, epoch=3, metrics={"val_acc": 0.5})
    x = torch.randn(2, 1, 28, 28)
    loaded, meta = cu.load_checkpoint(path)  # rebuilt from the metadata
    assert torch.equal(model.eval()(x), loaded.eval()(x))
    assert meta["epoch"] == 3 and meta["arch"] == "lenet5" and "torch" in meta["versions"]
    assert not list(tmp_path.glob(".m.pt.*"))  # no temporary file left behind


def test_checkpoint_into_the_wrong_architecture(tmp_path):
    path = cu.save_checkpoint(tmp_path / "m.pt", cu.build_model("lenet5"))
    with pytest.raises(cu.CheckpointError, match="lenet5"):
        cu.load_checkpoint(path, cu.build_model("minivgg"))
    with pytest.raises(cu.CheckpointError, match="do not fit"):
        cu.load_checkpoint(path, cu.MiniVGGNet())  # a model without registry metadata
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(cu.CheckpointError, match="Cannot read"):
        cu.load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize("layout", [[], ["--channels-last"]])
def test_command_line_trains_and_writes(tiny_data_dir, tmp_path, layout):
    from course_utils.train.cli import main

    out = tmp_path / "run" / "lenet"
    report = main(
        [
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--lr",
            "0.01",
            "--val-size",
            "50",
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
            *layout,
        ]
    )
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["test"] == report["test"] and len(saved["history"]["losses"]["train"]) == 1
    model, meta = cu.load_checkpoint(out.with_suffix(".pt"))
    assert meta["extra"]["recipe"]["model"] == "lenet5"
    assert meta["extra"]["recipe"]["channels_last"] is bool(layout)


def test_lovasz_hinge_scores_the_overlap_and_skips_ignored_pixels():
    target = torch.tensor([[[1, 1], [0, 255]]], dtype=torch.uint8)
    right = torch.tensor([[[4.0, 4.0], [-4.0, 9.0]]])
    loss = cu.LovaszHingeLoss()
    assert loss(right, target).item() == 0.0  # confident and right: no hinge error
    wrong = -right
    assert loss(wrong, target) > loss(torch.zeros(1, 2, 2), target) > 0  # unsure is cheaper than wrong
    other_ignored = right.clone()
    other_ignored[0, 1, 1] = -50.0  # the ignored pixel changes, the loss must not
    assert loss(other_ignored, target) == loss(right, target)
    logits = torch.tensor([[[[0.1, 0.2], [0.3, 0.0]]]], requires_grad=True)  # distinct errors: no ties
    loss(logits, target).backward()
    assert logits.grad[0, 0, 1, 1] == 0 and logits.grad[0, 0, 0, 0] < 0 < logits.grad[0, 0, 1, 0]


def test_ema_keeps_the_average_of_the_weights():
    """Two steps with decay 0.5: the kept model is the mean of the weights after step 1 and 2."""
    data = {
        "train": cu.TensorLoader(blobs(64), 32, (0.3,), (0.2,), shuffle=True, seed=0),
        "val": cu.TensorLoader(blobs(32, seed=1), 32, (0.3,), (0.2,)),
    }
    cu.seed_everything(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = cu.train_val_model(
        model, nn.NLLLoss(), optimizer, data, 1, log_interval=0, progress=False, ema_decay=0.5
    )
    cu.seed_everything(0)
    manual = tiny_net()
    optimizer = torch.optim.SGD(manual.parameters(), lr=0.1)
    snapshots = []
    for x, y in cu.TensorLoader(blobs(64), 32, (0.3,), (0.2,), shuffle=True, seed=0):
        optimizer.zero_grad()
        nn.NLLLoss()(manual(x), y).backward()
        optimizer.step()
        snapshots.append([p.detach().clone() for p in manual.parameters()])
    for kept, first, second in zip(result[0].parameters(), *snapshots, strict=True):
        assert torch.allclose(kept, (first + second) / 2, atol=1e-6)
        assert not torch.allclose(kept, second)  # not simply the last weights
    with pytest.raises(ValueError, match="between 0 and 1"):
        train(epochs=1, ema_decay=1.5)
