"""Lesson 09's blocks: shapes, parameter counts equal to torchvision's blocks of the same configuration,
multiply-adds by formula = counted by hooks = counted by PyTorch's FlopCounterMode, and BlockNet."""

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import convnext_tiny, efficientnet_b0, mobilenet_v2, resnet50, resnext50_32x4d

from course_utils.models import (
    BlockNet,
    build_model,
    count_macs,
    count_parameters,
    forward_time,
    measure_cost,
    measure_costs,
    widths_for_macs,
)
from course_utils.models.blocks import (
    Bottleneck,
    ConvNeXtBlock,
    DepthwiseSeparable,
    InvertedResidual,
    SqueezeExcite,
)
from course_utils.recipes import BLOCKS_MACS, BLOCKS_WIDTHS, RECIPES


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _flop_counter_macs(model: nn.Module, input_size) -> int:
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *input_size))
    return counter.get_total_flops() // 2  # PyTorch counts a multiply-add as two operations


@pytest.mark.parametrize(
    "ours, theirs",
    [
        # ResNet-50's layer1[1] and ResNeXt-50 32x4d's: 256 -> 64 (or 128 in 32 groups) -> 256
        (lambda: Bottleneck(256, 256), lambda: resnet50().layer1[1]),
        (lambda: Bottleneck(256, 256, groups=32, width=128), lambda: resnext50_32x4d().layer1[1]),
        (lambda: Bottleneck(64, 256, width=64), lambda: resnet50().layer1[0]),  # projection
        # MobileNetV2's features[3] (24 -> 24, expansion 6) and features[4] (24 -> 32, stride 2)
        (lambda: InvertedResidual(24, 24, 1, expand=6), lambda: mobilenet_v2().features[3]),
        (lambda: InvertedResidual(24, 32, 2, expand=6), lambda: mobilenet_v2().features[4]),
        (lambda: InvertedResidual(32, 16, 1, expand=1), lambda: mobilenet_v2().features[1]),
        # EfficientNet-B0's MBConv: 40 -> 40, kernel 5, expansion 6, SE with 40 // 4 = 10 channels, SiLU
        (
            lambda: InvertedResidual(40, 40, 1, expand=6, kernel_size=5, activation=nn.SiLU, se_ratio=0.25),
            lambda: efficientnet_b0().features[3][1],
        ),
        (lambda: SqueezeExcite(96, 24), lambda: torchvision.ops.SqueezeExcitation(96, 24)),
        # ConvNeXt-T's first block: 96 channels, 7x7 depthwise, expansion 4, layer scale
        (lambda: ConvNeXtBlock(96), lambda: convnext_tiny().features[1][0]),
    ],
    ids=["bottleneck", "resnext", "bottleneck-projection", "inverted", "inverted-stride2", "inverted-t1"]
    + ["mbconv", "squeeze-excite", "convnext"],
)
def test_a_block_has_torchvisions_parameter_count_for_the_same_configuration(ours, theirs):
    assert _params(ours()) == _params(theirs())


def _depthwise_separable_formula(c_in, c_out, h, w, k=3):
    return h * w * (c_in * k * k + c_in * c_out)


@pytest.mark.parametrize(
    "block, size, formula",
    [
        (nn.Conv2d(32, 64, 3, padding=1, bias=False), (32, 16, 16), 16 * 16 * 32 * 64 * 9),
        (DepthwiseSeparable(32, 64), (32, 16, 16), _depthwise_separable_formula(32, 64, 16, 16)),
        (Bottleneck(64, 64, width=16), (64, 8, 8), 8 * 8 * (64 * 16 + 16 * 16 * 9 + 16 * 64)),
        (Bottleneck(64, 64, groups=4, width=16), (64, 8, 8), 8 * 8 * (64 * 16 + 16 * 16 * 9 // 4 + 16 * 64)),
        (InvertedResidual(16, 16, expand=6), (16, 8, 8), 8 * 8 * (16 * 96 + 96 * 9 + 96 * 16)),
        (SqueezeExcite(32, 8), (32, 8, 8), 2 * 32 * 8),
        (ConvNeXtBlock(32), (32, 8, 8), 8 * 8 * (32 * 49 + 2 * 4 * 32 * 32)),
    ],
    ids=["dense", "separable", "bottleneck", "grouped-bottleneck", "inverted", "squeeze-excite", "convnext"],
)
def test_multiply_adds_by_formula_by_hooks_and_by_pytorchs_counter_agree(block, size, formula):
    assert count_macs(block, size) == formula
    assert _flop_counter_macs(block, size) == formula


@pytest.mark.parametrize("family", ["basic", "bottleneck", "separable", "inverted", "mbconv", "convnext"])
def test_blocknet_of_every_family_classifies_cifar_sized_images_and_rebuilds(family):
    net = BlockNet(family, widths=(16, 32, 64), depths=(1, 2, 1))
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.allclose(out.exp().sum(1), torch.ones(2))  # log-probabilities
    again = build_model("blocknet", **net.model_args)
    assert count_parameters(again) == count_parameters(net)
    assert count_macs(net, (3, 32, 32)) == _flop_counter_macs(net, (3, 32, 32))


def test_a_stride_2_block_halves_the_size_and_the_depthwise_one_is_cheaper():
    x = torch.randn(1, 32, 16, 16)
    for block in (Bottleneck(32, 64, 2), DepthwiseSeparable(32, 64, 2), InvertedResidual(32, 64, 2)):
        assert block(x).shape == (1, 64, 8, 8)
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    assert count_macs(DepthwiseSeparable(64, 64), (64, 8, 8)) * 7 < count_macs(dense, (64, 8, 8))


def test_bad_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="family must be one of"):
        BlockNet("vit")
    with pytest.raises(ValueError, match="one entry per stage"):
        BlockNet("basic", widths=(16, 32), depths=(1,))
    with pytest.raises(ValueError, match="multiple of groups"):
        Bottleneck(64, 64, groups=3, width=16)


def test_forward_time_measures_a_warm_pass_and_restores_the_mode():
    net = BlockNet("separable", widths=(8, 16), depths=(1, 1)).train()
    seconds = forward_time(net, (3, 32, 32), batch_size=2, min_run_time=0.05)
    assert 0 < seconds < 5 and net.training
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        forward_time(net, (3, 32, 32), batch_size=0)


def test_widths_for_macs_matches_the_budget_of_each_family():
    from course_utils.models.blocknet import widths_for_macs

    for family in ("basic", "separable", "convnext"):
        widths = widths_for_macs(family, 6_000_000)
        assert widths[1] == 2 * widths[0] and widths[2] == 4 * widths[0] and widths[0] % 4 == 0
        cost = count_macs(BlockNet(family, widths), (3, 32, 32))
        narrower = count_macs(
            BlockNet(family, tuple(w - 4 * 2**i for i, w in enumerate(widths))), (3, 32, 32)
        )
        wider = count_macs(BlockNet(family, tuple(w + 4 * 2**i for i, w in enumerate(widths))), (3, 32, 32))
        assert abs(cost - 6_000_000) <= min(abs(narrower - 6_000_000), abs(wider - 6_000_000))
    with pytest.raises(ValueError, match="macs must be a positive number"):
        widths_for_macs("basic", 0)


@pytest.mark.parametrize("family", sorted(BLOCKS_WIDTHS))
def test_lesson_09_recipes_match_one_budget_of_multiply_adds(family):
    recipe = RECIPES[f"blocks_{family}"]
    multiple = 4 if family == "bottleneck" else 2
    assert recipe.model_args["widths"] == widths_for_macs(family, BLOCKS_MACS, multiple=multiple)
    cost = count_macs(BlockNet(family, recipe.model_args["widths"]), (3, 32, 32))
    assert abs(cost - BLOCKS_MACS) < 0.15 * BLOCKS_MACS  # the closest width step, not exact


def test_layer_scale_sets_convnext_blocks_and_is_refused_elsewhere():
    net = BlockNet("convnext", (8, 16, 32), layer_scale=1.0)
    gammas = [m.gamma for m in net.modules() if isinstance(m, ConvNeXtBlock)]
    assert gammas and all(torch.equal(g, torch.ones_like(g)) for g in gammas)
    assert all(
        m.gamma[0].item() == torch.tensor(1e-6).item()
        for m in BlockNet("convnext").modules()
        if isinstance(m, ConvNeXtBlock)
    )
    with pytest.raises(ValueError, match="layer_scale.*family='basic'"):
        BlockNet("basic", layer_scale=1.0)


def test_measure_cost_counts_and_times_per_image():
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    cost = measure_cost(conv, (8, 8, 8), batch_sizes=(1, 4), repeats=2, min_run_time=0.01)
    assert cost["params"] == 8 * 8 * 9 and cost["macs"] == 8 * 8 * 8 * 8 * 9
    assert sorted(cost["seconds"]) == [1, 4] and all(
        len(v) == 2 and min(v) > 0 for v in cost["seconds"].values()
    )
    assert cost["gmacs"][4] == pytest.approx(cost["macs"] / sorted(cost["seconds"][4])[1] / 1e9)
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        measure_cost(conv, (8, 8, 8), repeats=0)


def test_measure_costs_times_every_model_in_every_round():
    models = {"dense": nn.Conv2d(8, 8, 3, padding=1), "depthwise": nn.Conv2d(8, 8, 3, padding=1, groups=8)}
    costs = measure_costs(models, (8, 8, 8), batch_sizes=(2,), rounds=3, min_run_time=0.01)
    assert list(costs) == ["dense", "depthwise"]
    assert all(len(c["seconds"][2]) == 3 and min(c["seconds"][2]) > 0 for c in costs.values())
    assert costs["depthwise"]["macs"] * 8 == costs["dense"]["macs"]
