"""One recipe, one fit(): every registered recipe builds in every profile, fit and the command line
give the same run, a checkpoint written by fit reloads into the same predictions, and the runtime's
automatic precision follows the device's capabilities (faked here, as CI has no GPU)."""

from __future__ import annotations

import json

import pytest
import torch

import course_utils as cu
from course_utils import config, recipes
from course_utils.runtime import Runtime, auto_precision

CPU = Runtime(torch.device("cpu"))


@pytest.fixture
def stand_in_imagenet(monkeypatch):
    """torchvision's ResNet-18 weights are a download: a stand-in with the right shapes."""
    from torchvision.models import ResNet18_Weights, resnet18

    weights = resnet18().state_dict()
    monkeypatch.setattr(type(ResNet18_Weights.IMAGENET1K_V1), "get_state_dict", lambda self, **kw: weights)


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("profile", sorted(config.PROFILES))
@pytest.mark.parametrize("name", sorted(cu.RECIPES))
def test_each_registered_recipe_builds_in_every_profile(
    name, profile, dry_run, tiny_data_dir, stand_in_imagenet
):
    profile = cu.get_profile(profile, dry_run=dry_run)
    recipe = cu.RECIPES[name].for_profile(profile)
    assert recipe.profile == profile.name and hash(recipe) == hash(cu.RECIPES[name].for_profile(profile))
    if dry_run:
        assert recipe.epochs <= config.DRY_RUN_EPOCHS and recipe.max_eval <= config.DRY_RUN_EVAL_IMAGES
    data = recipes.load_data(recipe, val_size=5)
    model = recipe.build_model(data)
    optimizer = recipe.make_optimizer(model)
    if recipe.backbone_lr_factor is not None and not recipe.freeze_backbone:  # head and backbone groups
        assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([recipe.lr, recipe.lr * 0.1])
    scheduler = recipe.make_scheduler(optimizer, steps_per_epoch=3)
    assert (scheduler is None) == (recipe.schedule == "none")
    x, y = next(iter(CPU.loader(data, "val", 2)))
    loss = recipe.make_criterion()(model(x), y)
    assert torch.isfinite(loss)
    assert recipe.make_metric().name == recipe.metric


def test_the_batch_size_rule_is_the_same_for_profiles_and_the_command_line():
    resnet14 = cu.RECIPES["resnet14"]
    cpu = resnet14.for_profile(cu.get_profile("cpu", dry_run=False))
    assert (cpu.batch_size, cpu.lr) == (128, pytest.approx(resnet14.lr * 128 / 256))
    assert resnet14.adjusted(batch_size=512).lr == pytest.approx(2 * resnet14.lr)
    assert resnet14.adjusted(batch_size=512, lr=0.3).lr == 0.3  # a stated rate is kept
    from course_utils.train import cli

    args = cli._parser().parse_args(["--recipe", "resnet14", "--batch-size", "128", "--out", "x"])
    assert cli._recipe(args, cli._parser(), cu.get_profile("full", dry_run=False)).lr == cpu.lr


def test_recipes_are_values_that_copy_and_pickle(tiny_data_dir):
    import copy
    import pickle

    a = cu.RECIPES["unet_pets"]
    b = a.replace(epochs=1, model_args={"base_channels": 8, "batch_norm": True}).replace(
        epochs=90, model_args={"batch_norm": True, "base_channels": 16}
    )  # made anew, from other objects
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1 and a.replace(epochs=1) != a
    assert copy.deepcopy(a) == a == pickle.loads(pickle.dumps(a))
    plain = a.as_dict()
    assert (
        plain["model_args"] == {"base_channels": 16, "batch_norm": True} and type(plain["model_args"]) is dict
    )
    json.dumps(plain)  # plain data, as a checkpoint's metadata needs


def test_fit_and_the_command_line_give_the_same_history(tiny_data_dir, tmp_path):
    from course_utils.train.cli import main

    report = main(
        ["--recipe", "lenet_mnist", "--epochs", "2", "--val-size", "50", "--device", "cpu",
         "--precision", "fp32", "--no-channels-last", "--quiet", "--out", str(tmp_path / "lenet")]
    )  # fmt: skip
    recipe = cu.RECIPES["lenet_mnist"].for_profile(cu.get_profile("full", dry_run=False)).replace(epochs=2)
    result = cu.fit(recipe, recipes.load_data(recipe, val_size=50), CPU, progress=False)
    history = result.history.as_dict()
    for key in ("losses", "metrics", "lrs", "best_epoch", "best_val"):
        assert report["history"][key] == history[key], key
    assert report["recipe"] == recipe.as_dict()


def test_a_checkpoint_written_by_fit_reloads_into_the_same_predictions(tiny_data_dir, tmp_path):
    """Written from one runtime, reloaded into another: here a channels_last CPU runtime (and CUDA or MPS
    where this machine has one), the predictions agree."""
    recipe = cu.RECIPES["resnet14"].replace(epochs=1, batch_size=32, max_train=64)
    data = recipes.load_data(recipe, val_size=20)
    result = cu.fit(recipe, data, CPU, progress=False)
    path = result.save(tmp_path / "r14.pt", test={"acc": 0.0}, report=True)
    x, _ = next(iter(CPU.loader(data, "test", 16)))
    expected = result.model.eval()(x)
    others = [Runtime(torch.device("cpu"), channels_last=True)]
    if torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = False  # float32 convolutions, comparable with the CPU's
        others.append(Runtime(torch.device("cuda")))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        others.append(Runtime(torch.device("mps")))
    for other in others:
        loaded, meta = cu.train.load_checkpoint(path, device=other.device)
        loaded = other.model(loaded).eval()
        got = loaded(x.to(other.device, memory_format=other.memory_format)).cpu()
        assert torch.allclose(got, expected, atol=1e-4), other
    assert meta["recipe"] == recipe.as_dict() and meta["seed"] == 0
    assert meta["normalization"] == [list(data.mean), list(data.std)]


def test_fit_keeps_frozen_parts_frozen_and_returns_the_plain_network(tiny_data_dir):
    recipe = cu.RECIPES["breeds_finetune"].replace(epochs=1, freeze=("conv", "bn", "layer1"))
    data = recipes.load_data(recipe, val_size=5)
    packaged, _ = cu.load_pretrained("resnet14_cifar10")
    result = cu.fit(recipe, data, CPU, progress=False)
    assert torch.equal(result.model.layer1[0].conv1.weight, packaged.layer1[0].conv1.weight)
    assert not torch.equal(result.model.layer2[0].conv1.weight, packaged.layer2[0].conv1.weight)


def test_the_command_line_obeys_a_dry_run(tiny_data_dir, tmp_path, monkeypatch):
    from course_utils.train.cli import main

    monkeypatch.setenv("COURSE_DRY_RUN", "1")
    report = main(["--recipe", "resnet14", "--val-size", "50", "--device", "cpu", "--quiet",
                   "--out", str(tmp_path / "dry")])  # fmt: skip
    assert report["recipe"]["epochs"] == config.DRY_RUN_EPOCHS < cu.RECIPES["resnet14"].epochs
    assert len(report["history"]["losses"]["train"]) == config.DRY_RUN_EPOCHS
    assert "dry run: 2 batches per loader, training batches of at most 32" in report["run"]["runtime"]


@pytest.mark.parametrize(
    "device, cuda_capability, cpu_bf16, expected",
    [
        ("cuda", (8, 0), False, "bf16"),  # A100, H100: native bf16
        ("cuda", (7, 5), False, "fp16"),  # T4 (Colab's free GPU): fp16 with a gradient scaler
        ("cpu", None, True, "bf16"),  # AVX-512 with BF16
        ("cpu", None, False, "fp32"),  # AVX2
        ("mps", None, False, "fp32"),
    ],
)
def test_auto_precision_follows_the_device(monkeypatch, device, cuda_capability, cpu_bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_capability is not None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: cuda_capability)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: cpu_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512" if cpu_bf16 else "AVX2")
    assert auto_precision(device) == expected


def test_runtime_flags_override_and_are_checked(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    profile = cu.get_profile("cpu", dry_run=False)
    rt = cu.runtime(profile, "cpu", precision="bf16", channels_last=True, compile=True)
    assert (rt.precision, rt.channels_last, rt.compile) == ("bf16", True, True)
    assert str(rt) == "cpu | bf16 autocast | channels_last | torch.compile"
    with pytest.raises(ValueError, match="precision must be auto, fp32, bf16, fp16; got 'half'"):
        cu.runtime(profile, "cpu", precision="half")
    with pytest.raises(ValueError, match="precision='fp8' is not one of fp32, bf16, fp16"):
        Runtime(torch.device("cpu"), precision="fp8")


def test_the_command_line_cannot_lift_a_dry_runs_caps(tiny_data_dir):
    from course_utils.train import cli

    dry = cu.get_profile("cpu", dry_run=True)
    args = cli._parser().parse_args(
        ["--recipe", "unet_pets", "--epochs", "90", "--max-train", "100000", "--out", "x"]
    )
    recipe = cli._recipe(args, cli._parser(), dry)
    assert (recipe.epochs, recipe.max_eval) == (config.DRY_RUN_EPOCHS, config.DRY_RUN_EVAL_IMAGES)
    smoke = cu.get_profile("smoke", dry_run=False)
    assert cli._recipe(args, cli._parser(), smoke).max_train == smoke.max_train  # the profile's cap stays


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"warmup": 5}, r"warmup is the share of the steps spent warming up, in \(0, 1\); got 5"),
        ({"backbone_lr_factor": -1}, r"backbone_lr_factor must be a positive finite number, got -1"),
        ({"freeze": "conv"}, r"freeze must be a tuple of layer names, e.g. \('conv', 'bn'\), got 'conv'"),
        ({"label_smoothing": 0.1, "loss": "nll"}, r"label_smoothing=0.1 needs loss='cross_entropy'"),
        ({"data": "mnist"}, r"do not go together: the pet masks \(data='pets'\) take model='unet'"),
        ({"profiles": {"cpu": {"loss": "dice"}}}, r"profile 'cpu': Recipe loss='dice' is not one of"),
    ],
)
def test_a_recipe_refuses_values_that_would_train_something_else(changes, message):
    with pytest.raises(ValueError, match=message):
        cu.RECIPES["unet_pets"].replace(**changes)


def test_freezing_a_layer_the_model_does_not_have_is_refused(tiny_data_dir):
    recipe = cu.RECIPES["breeds_finetune"].replace(freeze=("conv", "layer9"))
    with pytest.raises(ValueError, match=r"freeze names \['layer9'\], which the model does not have"):
        recipe.build_model(recipes.load_data(recipe, val_size=5))


def test_the_triangle_schedule_keeps_each_groups_peak():
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.4}]
    groups.append({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04})
    optimizer = cu.make_optimizer("nesterov", groups, 0.4)
    scheduler = cu.optim.triangle_schedule(optimizer, [0.4, 0.04], total_steps=10, warmup=0.5)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.4, 0.04])  # the top of the triangle


def test_the_command_line_refuses_a_model_a_checkpoint_cannot_rebuild(capsys):
    from course_utils.train import cli

    with pytest.raises(SystemExit):
        main_args = ["--recipe", "breeds_imagenet", "--out", "x"]
        cli._recipe(cli._parser().parse_args(main_args), cli._parser(), cu.get_profile("cpu", dry_run=False))
    assert "is not a course model a checkpoint can rebuild" in capsys.readouterr().err
