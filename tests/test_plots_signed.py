"""cu.plots.imshow_signed: signed maps on a diverging scale centred on 0, with a colourbar."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import course_utils as cu  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_scale_is_centred_on_zero_and_has_a_colourbar():
    fig, ax = plt.subplots()
    shown = cu.plots.imshow_signed(
        ax, torch.tensor([[-1.0, 0.5], [3.0, 0.0]]).view(1, 1, 2, 2), title="edges"
    )
    assert shown.get_clim() == (-3.0, 3.0) and shown.get_cmap().name == "RdBu_r"
    assert len(fig.axes) == 2 and ax.get_title() == "edges"  # the map and its colourbar
    white = shown.to_rgba(np.array([0.0]))[0]
    assert np.allclose(white[:3], white[0], atol=0.03) and white[0] > 0.9  # 0 is (near) white, not a colour


def test_a_shared_limit_and_no_colourbar():
    fig, axes = plt.subplots(1, 2)
    for ax, image in zip(axes, [torch.ones(3, 3), -torch.ones(3, 3) / 2], strict=True):
        shown = cu.plots.imshow_signed(ax, image.numpy(), limit=2.0, colorbar=False)
        assert shown.get_clim() == (-2.0, 2.0)
    assert len(fig.axes) == 2


def test_an_all_zero_map_draws():
    fig, ax = plt.subplots()
    assert cu.plots.imshow_signed(ax, torch.zeros(4, 4)).get_clim() == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(image=torch.zeros(2, 5, 5)), r"image must be one 2-D map \(H, W\); got shape \(2, 5, 5\)"),
        (dict(image=torch.zeros(5)), r"got shape \(5,\)"),
        (dict(image=torch.zeros(5, 5), limit=0.0), "limit must be a positive number; got 0.0"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message):
        cu.plots.imshow_signed(ax, **kwargs)
