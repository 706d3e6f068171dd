"""cu.plot_confusion (lessons 02, 04, 07) and lesson 07's cross-validation folds."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import course_utils as cu
from course_utils import transfer
from course_utils.data import Dataset, Split

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _matrix(k: int, n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    truth = torch.randint(0, k, (n,), generator=g)
    said = torch.where(torch.rand(n, generator=g) < 0.7, truth, torch.randint(0, k, (n,), generator=g))
    return cu.confusion_matrix(said, truth, k)


def _cell_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_three_classes_show_counts_shares_and_a_colourbar():
    matrix = _matrix(3)
    fig = cu.plot_confusion(matrix, ["Abyssinian", "Bengal", "american_bulldog"], normalize=True)
    ax, bar = fig.axes  # the matrix and its colourbar
    texts = _cell_texts(ax)
    assert len(texts) == 9 and texts[0] == f"{matrix[0, 0] / matrix[0].sum():.2f}\n({int(matrix[0, 0])})"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Abyssinian", "Bengal", "american_\nbulldog"]
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels())  # three wrapped labels fit flat
    assert bar.get_ylim() == (0.0, 1.0) and ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    plt.close(fig)


def test_ten_classes_slant_the_column_labels_so_they_do_not_overlap():
    fig = cu.plot_confusion(_matrix(10, 2000), CIFAR, title="CIFAR-10")
    ax = fig.axes[0]
    assert len(_cell_texts(ax)) == 100 and all(t.get_rotation() == 40 for t in ax.get_xticklabels())
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False))
    plt.close(fig)


def test_counts_are_whole_numbers_and_short_labels_stay_flat():
    matrix = _matrix(10, 500)
    fig = cu.plot_confusion(matrix, [str(i) for i in range(10)], colorbar=False)
    assert len(fig.axes) == 1 and _cell_texts(fig.axes[0])[11] == str(int(matrix[1, 1]))
    assert all(t.get_rotation() == 0 for t in fig.axes[0].get_xticklabels())
    plt.close(fig)


def test_matrices_side_by_side_on_given_axes():
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.5))
    for i, ax in enumerate(axes):
        out = cu.plot_confusion(_matrix(3, seed=i), ["a", "b", "c"], title=f"run {i}", ax=ax, colorbar=i == 2)
        assert out is fig
    assert [ax.get_title() for ax in axes] == ["run 0", "run 1", "run 2"] and len(fig.axes) == 4
    plt.close(fig)


def test_an_empty_row_shows_zeros_not_nan():
    matrix = torch.tensor([[3, 1], [0, 0]])
    fig = cu.plot_confusion(matrix, ["cat", "dog"], normalize=True)
    assert _cell_texts(fig.axes[0])[2:] == ["0.00\n(0)", "0.00\n(0)"]
    plt.close(fig)


def test_a_matrix_of_the_wrong_shape_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"K x K with K = len\(class_names\) = 3.*cu.confusion_matrix"):
        cu.plot_confusion(torch.zeros(2, 2), ["a", "b", "c"])


# ---- lesson 07: transfer.cross_validation_folds ------------------------------------------------------


def _toy(n_train: int = 24, n_val: int = 6) -> Dataset:
    def split(n: int, start: int) -> Split:
        ids = torch.arange(start, start + n)
        x = ids.to(torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()
        return Split(x, ids % 3, {"name": np.array([f"img{i}" for i in ids.tolist()])})

    return Dataset(
        "toy", split(n_train, 0), split(n_val, n_train), split(5, 100), (0.5,) * 3, (0.25,) * 3, list("abc")
    )


def test_folds_share_out_train_and_val_once_each_and_leave_test_alone():
    data = _toy()
    folds = transfer.cross_validation_folds(data, 5, seed=1)
    seen = torch.cat([f.val.x[:, 0, 0, 0] for f in folds]).sort().values
    assert torch.equal(seen, torch.arange(30, dtype=torch.uint8))  # every image validated on exactly once
    for f in folds:
        assert len(f.train) + len(f.val) == 30 and len(f.val) == 6
        assert set(f.train.x[:, 0, 0, 0].tolist()).isdisjoint(f.val.x[:, 0, 0, 0].tolist())
        assert torch.bincount(f.val.y, minlength=3).tolist() == [2, 2, 2]  # stratified
        assert f.test is data.test and (f.mean, f.std) == (data.mean, data.std)
        assert [int(n[3:]) for n in f.val.info["name"]] == f.val.x[:, 0, 0, 0].tolist()  # extras follow
    again = transfer.cross_validation_folds(data, 5, seed=1)
    assert all(
        torch.equal(a.val.y, b.val.y) and torch.equal(a.val.x, b.val.x)
        for a, b in zip(folds, again, strict=True)
    )


def test_folds_refuse_too_many_or_too_few():
    with pytest.raises(ValueError, match="at least 2"):
        transfer.cross_validation_folds(_toy(), 1)
    with pytest.raises(ValueError, match="use k <= 10"):
        transfer.cross_validation_folds(_toy(), 11)
