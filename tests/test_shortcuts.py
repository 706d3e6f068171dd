"""Lesson 05's plain-vs-residual pair differs by ``+ x`` alone; ResNet-14's projection layout is unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils.models.resnet import PlainBlock, ResidualBlock, ZeroPadShortcut


def _pair(layers=(2, 2, 2)) -> tuple[cu.ResNet, cu.ResNet]:
    """The lesson's pair as its recipes build it (at ``layers``); the residual one gets the plain weights."""
    args = {
        kind: dict(cu.RECIPES[f"skip_{kind}"].model_args) | {"layers": list(layers)}
        for kind in ("plain", "residual")
    }
    torch.manual_seed(0)
    plain, residual = cu.ResNet(**args["plain"]), cu.ResNet(**args["residual"])
    residual.load_state_dict(plain.state_dict(), strict=True)
    return plain.eval(), residual.eval()


def _shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items()]


def test_the_recipes_pair_has_exactly_the_same_parameters():
    plain, residual = _pair(cu.RECIPES["skip_plain"].model_args["layers"])
    assert [b.registry_name for b in (type(plain.layer1[0]), type(residual.layer1[0]))] == ["plain", "basic"]
    assert _shapes(plain) == _shapes(residual)  # names and shapes, buffers included
    assert cu.count_parameters(plain) == cu.count_parameters(residual) == 853_018  # He et al.: 0.85M


def test_the_residual_forward_is_the_plain_one_plus_the_shortcut():
    x = torch.randn(4, 16, 8, 8)
    for out_channels, stride in ((16, 1), (32, 2)):  # a block that keeps the shape and one that halves it
        skip = None if stride == 1 else ZeroPadShortcut(16, out_channels, stride)
        torch.manual_seed(0)
        plain, residual = PlainBlock(16, out_channels, stride), ResidualBlock(16, out_channels, stride, skip)
        residual.load_state_dict(plain.state_dict(), strict=True)
        shortcut = (
            x if skip is None else torch.cat([x[:, :, ::2, ::2], torch.zeros_like(x[:, :, ::2, ::2])], 1)
        )
        with torch.no_grad():
            assert torch.equal(plain(x), torch.relu(plain.branch(x)))
            assert torch.equal(residual(x), torch.relu(plain.branch(x) + shortcut))
    # The whole network: with every shortcut giving zeros, the residual network is the plain one.
    plain, residual = _pair()
    for block in residual.modules():
        if isinstance(block, ResidualBlock):
            block.shortcut = lambda t, b=block: torch.zeros_like(b.branch(t))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(residual(x), plain(x))
        assert not torch.equal(_pair()[1](x), plain(x))  # and with its shortcuts it is not


def test_zero_pad_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 16, 8, 8)
    out = ZeroPadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and not out[:, 16:].any()
    assert not list(ZeroPadShortcut(16, 32, 2).parameters())
    with pytest.raises(ValueError, match="out_channels must be >= in_channels"):
        ZeroPadShortcut(32, 16)


def test_depth_counts_the_main_path_and_resnet20_matches_the_paper():
    for layers, depth in (([2, 2, 2], 14), ([3, 3, 3], 20), ([9, 9, 9], 56)):
        for shortcut, extra in (("zero_pad", 0), ("projection", 2)):
            model = cu.ResNet("basic", layers, shortcut=shortcut)
            weighted = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
            assert len(weighted) == depth + extra  # the 2 projections sit on the skip path
            assert sum(".downsample." in n for n in weighted) == extra
    assert cu.count_parameters(cu.ResNet("basic", [3, 3, 3], shortcut="zero_pad")) == 269_722  # paper: 0.27M


def test_projection_layout_and_checkpoint_are_unchanged():
    resnet14 = cu.ResNet("basic", [2, 2, 2])
    assert "shortcut" not in resnet14.model_args  # the default is left out: old checkpoints match
    assert cu.count_parameters(resnet14) == 195_738
    assert "layer2.0.downsample.0.weight" in resnet14.state_dict()
    packaged, meta = cu.load_pretrained("resnet14_cifar10")
    assert packaged.model_args == resnet14.model_args == meta["model_args"]
    assert isinstance(packaged.layer2[0].downsample, nn.Sequential)
    assert isinstance(cu.ResNet("plain", [1, 1, 1]).layer2[0], PlainBlock)


def test_a_wrong_shortcut_is_explained():
    with pytest.raises(ValueError, match=r"shortcut must be one of \['projection', 'zero_pad'\], got 'pad'"):
        cu.ResNet(shortcut="pad")
