import pytest
import torch

import course_utils as cu
from course_utils.models import ResidualBlock

PARAMETER_COUNTS = [
    (lambda: cu.LeNet5(), 61_706),
    (lambda: cu.LeNet5((3, 6, 16, 576, 120, 84, 10)), 83_126),  # the seed's constructor
    (lambda: cu.MiniVGGNet(), 123_502),
    (lambda: cu.MiniVGGNet(in_channels=3, input_size=32), 166_030),
    (lambda: cu.ResNet(ResidualBlock, [2, 2, 2]), 195_738),
    # ResNet-20; He et al.'s 0.27M pads the shortcut with zeros where this one uses a 3x3 convolution
    (lambda: cu.ResNet("basic", [3, 3, 3]), 292_954),
    (lambda: cu.models.UNet(3, 1), 31_031_745),
    (lambda: cu.models.UNet(3, 1, base_channels=16), 1_941_105),
]


@pytest.mark.parametrize("build,count", PARAMETER_COUNTS)
def test_reference_parameter_counts(build, count):
    assert cu.count_parameters(build()) == count


@pytest.mark.parametrize("cls", [cu.LeNet5, cu.MiniVGGNet])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_classic_forward_backward(cls, channels, size):
    model = cls(in_channels=channels, input_size=size)
    out = model(torch.randn(4, channels, size, size))
    assert out.shape == (4, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)  # log-probabilities
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_batch_norm_and_dropout_options_train():
    model = cu.MiniVGGNet(batch_norm=True, dropout=0.3)
    assert cu.count_parameters(model) > 123_502
    model(torch.randn(4, 1, 28, 28)).sum().backward()


@pytest.mark.parametrize("model", [cu.ResNet(), cu.models.ResNet9()])
def test_resnets_on_cifar_shapes(model):
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()


def test_resnet9_pool_first_is_the_same_function_in_eval_mode():
    # Max-pool commutes with ReLU and with a batch-norm of positive scale, so with the same weights
    # the two layouts agree once batch-norm uses its running statistics.
    torch.manual_seed(0)
    default, pool_first = cu.models.ResNet9(), cu.models.ResNet9(pool_first=True)
    assert cu.count_parameters(default) == cu.count_parameters(pool_first)
    for bn in (m for m in default.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.weight.data.uniform_(0.5, 2.0)
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    for a, b in zip(default.state_dict().values(), pool_first.state_dict().values(), strict=True):
        b.copy_(a)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(default.eval()(x), pool_first.eval()(x), atol=1e-5)
    assert not torch.allclose(default.train()(x), pool_first.train()(x), atol=1e-3)  # batch statistics differ


def test_unet_keeps_the_size():
    model = cu.models.UNet(3, 1, base_channels=4, batch_norm=True)
    out = model(torch.randn(2, 3, 64, 48))
    assert out.shape == (2, 1, 64, 48)
    out.mean().backward()


def test_wrong_input_shape_names_expected_and_actual():
    with pytest.raises(ValueError, match=r"built for input \(N, 1, 28, 28\) but got \(2, 3, 32, 32\)"):
        cu.LeNet5()(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="multiples of 16"):
        cu.models.UNet(3, 1, base_channels=4)(torch.randn(1, 3, 100, 100))


def test_layers_tuple_that_does_not_fit_is_explained():
    with pytest.raises(ValueError, match=r"layers\[3\]=1 .* 16x5x5 = 400"):
        cu.LeNet5((1, 6, 16, 1, 120, 84, 10))  # the seed's "build with 1 and read the debug print"
    with pytest.raises(ValueError, match="7 entries"):
        cu.MiniVGGNet((1, 16, 32))
    with pytest.raises(ValueError, match="three stages"):
        cu.ResNet(ResidualBlock, [2, 2])
    with pytest.raises(ValueError, match="block must be one of"):
        cu.ResNet("bottleneck", [2, 2, 2])
    with pytest.raises(ValueError, match="positive whole numbers"):
        cu.LeNet5((1, 0, 16, None, 120, 84, 10))
    with pytest.raises(ValueError, match="base_channels must be a positive"):
        cu.models.UNet(3, 1, base_channels=0)


def test_summary_lists_shapes_and_total():
    text = cu.summary(cu.LeNet5(), (1, 28, 28))
    assert "conv2 (Conv2d)" in text and "(1, 16, 10, 10)" in text
    assert "Total parameters: 61,706" in text


def test_every_model_records_its_arguments_with_defaults():
    model = cu.models.build_model("resnet", layers=[1, 1, 1])
    assert model.model_args == {"block": "basic", "layers": [1, 1, 1], "num_classes": 10, "in_channels": 3}
    assert (
        cu.ResNet(cu.models.ResidualBlock, (1, 1, 1)).model_args == model.model_args
    )  # class or name, tuple or list
    assert cu.models.UNet(3, 1, base_channels=8).model_args == {
        "in_channels": 3,
        "out_channels": 1,
        "base_channels": 8,
        "batch_norm": False,
    }
    # LeNet-5 spelt three ways is one network
    spellings = [
        cu.LeNet5(),
        cu.LeNet5(in_channels=1, num_classes=10),
        cu.LeNet5((1, 6, 16, 400, 120, 84, 10)),
    ]
    assert all(m.model_args == spellings[0].model_args for m in spellings)
    assert cu.models.ResNet9(pool_first=True).model_args["pool_first"] is True
    with pytest.raises(ValueError, match="Unknown model"):
        cu.models.build_model("alexnet")


def test_plain_block_is_the_residual_block_without_its_shortcut():
    torch.manual_seed(0)
    residual = cu.models.ResidualBlock(8, 8)
    plain = cu.models.PlainBlock(8, 8)
    plain.load_state_dict(residual.state_dict())
    x = torch.randn(2, 8, 6, 6)
    residual.eval(), plain.eval()
    inner = residual.bn2(residual.conv2(residual.relu(residual.bn1(residual.conv1(x)))))
    assert torch.allclose(plain(x), torch.relu(inner)) and torch.allclose(residual(x), torch.relu(inner + x))
    deep = cu.ResNet("plain", [3, 3, 3])
    assert deep(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert cu.count_parameters(deep) < cu.count_parameters(cu.ResNet("basic", [3, 3, 3]))  # no shortcut convs


def test_the_public_surface_is_importable_and_drawn():
    missing = [name for name in cu.__all__ if not hasattr(cu, name)]
    assert not missing, missing
    public = {n for n in dir(cu) if not n.startswith("_")} - set(cu.__all__)
    submodules = {
        "config",
        "data",
        "detection",
        "download",
        "explain",
        "loaders",
        "losses",
        "metrics",
        "models",
    }
    submodules |= {"plots"}
    submodules |= {"noise", "optim", "pretrained", "recipes", "train", "transfer"}
    assert public <= submodules, f"exported without being in __all__: {sorted(public - submodules)}"
    assert len(cu.__all__) <= 35  # what several lessons use; one lesson's names through their module


def test_every_module_states_its_surface_and_none_imports_another_ones_private_helpers():
    import ast
    import pathlib

    root = pathlib.Path(cu.__file__).parent
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if path.name not in ("__main__.py",):
            assert any(
                isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
                for node in tree.body
            ), f"{path.relative_to(root)} states no __all__"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.module not in ("_io", "_memory"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                assert not private, f"{path.relative_to(root)} imports {private} from {node.module}"
