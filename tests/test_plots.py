"""The plots lessons use, drawn with the Agg backend: each returns a figure with the expected axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import course_utils as cu  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_has_whole_epoch_ticks():
    losses = {"train": [1.0, 0.5], "val": [1.1, 0.7]}
    fig = cu.plot_history(losses, {"train": [0.5, 0.8], "val": [0.4, 0.7]}, title="t")
    assert len(fig.axes) == 2 and [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 0 <= t <= 1]
    assert ticks and all(float(t).is_integer() for t in ticks)  # no 0.5 epoch
    assert len(cu.plot_history(losses).axes) == 1


def test_show_images_grid_and_titles():
    images = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    fig = cu.show_images(images, [f"image {i}\nline 2" for i in range(10)], ncols=4)
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == "image 0\nline 2"
    assert not fig.axes[11].images  # the two spare cells stay empty


def test_plot_confusion_labels():
    matrix = cu.confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2)
    fig = cu.plot_confusion(matrix, ["cat", "dog"], normalize=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"] and ax.get_ylabel() == "true"


def test_show_segmentation_keeps_column_headers_with_row_titles():
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    masks = torch.randint(0, 2, (2, 16, 16))
    fig = cu.plots.show_segmentation(images, masks, masks, titles=["a: IoU 0.9", "b: IoU 0.1"])
    axes = fig.axes
    assert [ax.get_title() for ax in axes[:3]] == ["image", "truth (grey: border)", "prediction"]
    assert axes[0].get_ylabel() == "a: IoU 0.9" and axes[3].get_ylabel() == "b: IoU 0.1"


def test_show_trimaps_has_a_colour_key():
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    trimaps = torch.randint(0, 3, (2, 16, 16))
    fig = cu.plots.show_trimaps(images, trimaps, titles=["Bengal", "Abyssinian"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["pet", "background", "border"] and len(fig.axes) == 4
