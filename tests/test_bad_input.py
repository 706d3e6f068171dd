"""Bad input, by class: each gets an error that names the argument, what was expected and the fix,
and nothing is lost. (The classes follow the package's review: sizes and counts, normalisation,
devices, classes, empty loaders, metrics, divergence, checkpoints, the command line.)"""

import numpy as np
import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils import config
from course_utils.data import Split
from tests.test_train import loaders, tiny_net


def split(n=20, c=1):
    return Split(torch.randint(0, 256, (n, c, 8, 8), dtype=torch.uint8), torch.arange(n) % 4)


# -- sizes and counts that are zero, negative or impossible ------------------------------------
@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be a positive whole number"):
        cu.TensorLoader(split(), batch_size, (0.5,), (0.5,))


def test_drop_last_larger_than_the_data():
    with pytest.raises(ValueError, match="leaves no batch of the 20 images"):
        cu.TensorLoader(split(), 64, (0.5,), (0.5,), drop_last=True)


@pytest.mark.parametrize("n", [0, -1])
def test_n_per_class(n):
    with pytest.raises(ValueError, match="n_per_class must be a positive whole number"):
        cu.stratified_subset(torch.arange(40) % 4, n)


def test_n_per_class_impossible():
    with pytest.raises(ValueError, match="n_per_class=11 is impossible: class 0 has only 10 samples"):
        cu.stratified_subset(torch.arange(40) % 4, 11)


@pytest.mark.parametrize("epochs", [0, -1, 1.5])
def test_num_epochs(epochs):
    model = tiny_net()
    with pytest.raises(ValueError, match="num_epochs must be a positive whole number"):
        cu.train_val_model(model, nn.NLLLoss(), torch.optim.SGD(model.parameters(), 0.1), loaders(), epochs)


@pytest.mark.parametrize("max_train", [0, -5])
def test_max_train(tiny_data_dir, max_train):
    with pytest.raises(ValueError, match="positive whole number or None"):
        cu.loaders.make_loaders(cu.load_mnist(val_size=50), 32, max_train=max_train)


@pytest.mark.parametrize("val_size", [0, -1, 300, 5.5])
def test_val_size(tiny_data_dir, val_size):
    with pytest.raises(ValueError, match=r"val_size must be a whole number between 1 and 299"):
        cu.load_mnist(val_size=val_size)


def test_archive_with_no_images(tiny_data_dir):
    empty = {k: np.zeros((0, 28, 28), np.uint8) if k.startswith("x") else np.zeros(0, np.uint8) for k in
             ("x_train", "y_train", "x_test", "y_test")}  # fmt: skip
    np.savez(tiny_data_dir / "mnist.npz", **empty)
    with pytest.raises(cu.data.DatasetError, match="x_train holds no images"):
        cu.load_mnist(val_size=2)


@pytest.mark.parametrize(
    "build", [lambda: cu.LeNet5((1, -6, 16, None, 120, 84, 10)), lambda: cu.models.UNet(0, 1)]
)
def test_model_sizes(build):
    with pytest.raises(ValueError, match="positive whole number"):
        build()


@pytest.mark.parametrize(
    "augment", [dict(crop_padding=-1), dict(rotate=-5), dict(zoom=1.5), dict(cutout=2.5)]
)
def test_augment_values(augment):
    with pytest.raises(ValueError, match="Augment: "):
        cu.Augment(**augment)


# -- a normalisation std <= 0 ------------------------------------------------------------------
@pytest.mark.parametrize("std", [(0.0,), (-0.2,)])
def test_std_must_be_positive(std):
    with pytest.raises(ValueError, match="std must be positive for every channel"):
        cu.TensorLoader(split(), 4, (0.5,), std)


# -- a requested device that is not available --------------------------------------------------
def test_unavailable_device_by_argument(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda', but this machine has 0 CUDA device\(s\)"):
        cu.config.get_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        cu.config.get_device("gpu")


def test_unavailable_device_by_environment(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    with pytest.raises(ValueError, match=r"COURSE_DEVICE='cuda:1', but this machine has 0 CUDA"):
        cu.config.get_device()
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert cu.config.get_device() == torch.device("cpu")


# -- a model whose output classes do not match the labels --------------------------------------
def test_model_with_too_few_classes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.LogSoftmax(1))  # labels go up to 3
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match=r"gives 3 class scores, but the labels go up to 3.*num_classes=4"):
        cu.train_val_model(model, nn.NLLLoss(), optimizer, loaders(), 1, progress=False)
    with pytest.raises(ValueError, match="3 class scores"):
        cu.evaluate(model, loaders()["val"])


# -- empty loaders in training and in evaluation -----------------------------------------------
def test_empty_loaders():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="epoch 0 train yielded no batches"):
        cu.train_val_model(model, nn.NLLLoss(), optimizer, {"train": [], "val": loaders()["val"]}, 1)
    with pytest.raises(ValueError, match="evaluation yielded no batches"):
        cu.evaluate(model, [])
    with pytest.raises(ValueError, match="empty split"):
        cu.TensorLoader(split(0), 4, (0.5,), (0.5,))


# -- a metric that does not fit the model's output ---------------------------------------------
def test_accuracy_on_a_one_channel_mask():
    logits, masks = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 8, 8))
    with pytest.raises(ValueError, match="Accuracy expects class scores.*use BinaryIoU"):
        cu.metrics.Accuracy()(logits, masks)


def test_iou_on_class_scores():
    with pytest.raises(ValueError, match="BinaryIoU expects one logit per pixel.*use Accuracy"):
        cu.metrics.BinaryIoU()(torch.randn(4, 10), torch.arange(4))


def test_confusion_matrix_out_of_range():
    with pytest.raises(ValueError, match=r"targets hold classes in \[0, 3\], outside \[0, 2\]"):
        cu.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 3]), 3)


# -- a non-finite loss in the first epoch: the starting weights come back -----------------------
def test_nan_in_the_first_epoch_restores_the_starting_weights():
    cu.seed_everything(0)
    model = tiny_net()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e6)  # diverges within the first epoch
    with pytest.raises(cu.train.TrainingDiverged, match="holds its starting weights") as err:
        cu.train_val_model(
            model, nn.MSELoss(), optimizer, regression_loaders(), 3, metric=Seen(), progress=False
        )
    assert "lower learning rate" in str(err.value)
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


class Seen:
    """A metric for any output: the share of samples seen (always 1)."""

    name = "seen"

    def __call__(self, outputs, targets):
        return torch.tensor(len(targets)), torch.tensor(len(targets))


def regression_loaders():
    """Targets far from the outputs, so that a huge learning rate overflows at once."""
    x = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8)
    data = Split(x, torch.full((64, 4), 1e3))
    return {k: cu.TensorLoader(data, 16, (0.5,), (0.5,)) for k in ("train", "val")}


# -- the scheduler's rule is stated by the caller ----------------------------------------------
def test_scheduler_needs_its_step():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    scheduler = cu.one_cycle(optimizer, 0.1, 1, len(loaders()["train"]))
    with pytest.raises(ValueError, match="say how it steps: step='batch'"):
        cu.train_val_model(model, nn.NLLLoss(), optimizer, loaders(), 1, scheduler)
    with pytest.raises(ValueError, match="say how it steps"):
        cu.train_val_model(model, nn.NLLLoss(), optimizer, loaders(), 1, step="batch")


@pytest.mark.parametrize(
    "kwargs", [dict(lr=0.0), dict(lr=float("nan")), dict(momentum=1.5), dict(weight_decay=-1)]
)
def test_optimizer_values(kwargs):
    params = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="must be"):
        cu.make_optimizer("sgd", params, **{"lr": 0.1} | kwargs)


# -- checkpoints -------------------------------------------------------------------------------
def test_checkpoint_into_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    path = cu.train.save_checkpoint(tmp_path / "model.pt", cu.LeNet5())
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what a read-only folder does (root ignores chmod)
    with pytest.raises(
        cu.train.CheckpointError, match=r"Cannot write the checkpoint .*model\.pt: Permission denied"
    ):
        cu.train.save_checkpoint(path, cu.LeNet5(dropout=0.1))
    assert path.read_bytes() == before  # the earlier file is intact


def test_checkpoint_write_failing_midway_keeps_the_earlier_file(tmp_path, monkeypatch):
    path = cu.train.save_checkpoint(tmp_path / "model.pt", cu.LeNet5())
    before = path.read_bytes()

    def disk_full(obj, file):
        file.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(cu.train.CheckpointError, match="No space left on device"):
        cu.train.save_checkpoint(path, cu.LeNet5())
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize(
    "saved,given",
    [
        (
            lambda: cu.models.UNet(3, 1, base_channels=4),
            lambda: cu.models.UNet(3, 1, base_channels=4, batch_norm=False),
        ),
        (lambda: cu.LeNet5(), lambda: cu.LeNet5(in_channels=1, num_classes=10, input_size=28)),
        (lambda: cu.ResNet(layers=[1, 1, 1]), lambda: cu.ResNet(cu.models.ResidualBlock, (1, 1, 1), 10, 3)),
    ],
)
def test_defaults_written_out_or_left_out_are_the_same_architecture(tmp_path, saved, given):
    path = cu.train.save_checkpoint(tmp_path / "m.pt", saved())
    model, _ = cu.train.load_checkpoint(path, given())
    assert type(model) is type(saved())


def test_an_unregistered_model_cannot_be_saved(tmp_path):
    with pytest.raises(cu.train.CheckpointError, match="not a registered course model"):
        cu.train.save_checkpoint(tmp_path / "m.pt", tiny_net())
    assert not (tmp_path / "m.pt").exists()


# -- profiles ----------------------------------------------------------------------------------
def test_dry_run_setting(monkeypatch):
    monkeypatch.setenv("COURSE_DRY_RUN", "yes please")
    with pytest.raises(ValueError, match="COURSE_DRY_RUN must be 1"):
        config.get_profile("cpu")


# -- the command line: one line, a non-zero exit, no checkpoint --------------------------------
@pytest.mark.parametrize(
    "options,message",
    [
        (["--epochs", "-1"], "epochs must be a positive whole number"),
        (["--epochs", "0"], "epochs must be a positive whole number"),
        (["--batch-size", "0"], "batch_size must be a positive whole number"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--lr", "-0.1"], "lr must be a positive finite number"),
        (["--momentum", "2"], "momentum must be in"),
        (["--val-size", "0"], "--val-size must be a positive whole number"),
        (["--epochs", "two"], "invalid int value"),
        (["--lr", "1e12"], "The loss became"),  # divergence
        (["--val-size", "100000"], "val_size must be a whole number between"),  # impossible for the data
    ],
)
def test_command_line_refuses_with_one_line(tiny_data_dir, tmp_path, capsys, options, message):
    from course_utils.train.cli import main

    out = tmp_path / "run" / "lenet"
    base = ["--model", "lenet5", "--data", "mnist", "--epochs", "1", "--val-size", "50", "--quiet"]
    with pytest.raises(SystemExit) as exit_:
        main([*base, "--out", str(out), *options])
    assert exit_.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.parent.exists() or not list(out.parent.iterdir())  # nothing written


def test_command_line_without_data(tmp_path, capsys, monkeypatch):
    import torchvision.datasets

    from course_utils.train.cli import main

    def offline(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(SystemExit) as exit_:
        main(["--model", "lenet5", "--data", "mnist", "--epochs", "1", "--data-dir", str(tmp_path / "none"),
              "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1 and len(err.splitlines()) == 1 and "COURSE_DATA_DIR" in err


@pytest.mark.parametrize(
    "field,value,choice",
    [
        ("model", "lenet6", "lenet5"),
        ("data", "imagenet", "cifar10"),
        ("optimizer", "rmsprop", "adamw"),
        ("schedule", "cosine", "onecycle"),
        ("loss", "dice", "bce_dice"),  # would have trained cross-entropy without a word
        ("metric", "miou", "iou"),  # would have measured accuracy without a word
        ("stats", "cifar", "imagenet"),
    ],
)
def test_a_recipe_refuses_an_unknown_value_by_field(field, value, choice):
    with pytest.raises(
        ValueError, match=rf"Recipe {field}='{value}' is not one of the choices: .*\b{choice}\b"
    ):
        cu.RECIPES["resnet14"].replace(**{field: value})


def test_a_profile_may_change_only_recipe_fields():
    with pytest.raises(ValueError, match=r"profile 'cpu': epoch is not a recipe field; a profile may change"):
        cu.RECIPES["resnet14"].replace(profiles={"cpu": {"epoch": 1}})
    with pytest.raises(
        ValueError, match=r"Recipe profiles key='laptop' is not one of the choices: cpu, full, smoke"
    ):
        cu.RECIPES["resnet14"].replace(profiles={"laptop": {"epochs": 1}})


def test_a_recipe_for_a_profile_is_not_made_for_another():
    cpu = cu.RECIPES["resnet14"].for_profile(cu.get_profile("cpu", dry_run=False))
    with pytest.raises(
        ValueError, match=r"already the 'cpu' profile's; call for_profile on the registered recipe"
    ):
        cpu.for_profile(cu.get_profile("full", dry_run=False))


def test_a_recipe_cannot_be_changed_in_place():
    recipe = cu.RECIPES["unet_pets"]
    with pytest.raises(TypeError, match=r"make a changed copy with recipe.replace"):
        recipe.model_args["base_channels"] = 8
    with pytest.raises(TypeError, match=r"make a changed copy"):
        recipe.profiles["cpu"]["epochs"] = 1
    assert recipe.model_args["base_channels"] == 16 and recipe.profiles["cpu"]["epochs"] == 45
