"""Plots the lessons share: learning curves, image grids, confusion matrices, masks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_confusion", "plot_history", "show_images", "show_segmentation", "show_trimaps", "to_image"]


def plot_history(losses: dict, metrics: dict | None = None, metric_name: str = "accuracy", title: str = ""):
    """Train vs validation loss (and metric) per epoch, side by side. Returns the figure."""
    ncols = 1 if metrics is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.2), squeeze=False)
    panels = [("loss", losses)] + ([] if metrics is None else [(metric_name, metrics)])
    for ax, (name, values) in zip(axes[0], panels, strict=True):
        for phase, style in (("train", "-"), ("val", "--")):
            ax.plot(values[phase], style, label=phase)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(name)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def to_image(x: torch.Tensor) -> np.ndarray:
    """A (C, H, W) uint8 or [0, 1] float tensor -> an (H, W[, C]) array for ``imshow``."""
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    x = x.permute(1, 2, 0).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4, cmap="gray"):
    """A grid of (C, H, W) images with optional titles (one or two lines). Returns the figure."""
    n = len(images)
    nrows = -(-n // ncols)
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    title_space = 0.18 * lines  # inches of title above each image, so titles never cover the row above
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, (size + title_space) * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_image(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion(
    matrix: torch.Tensor, class_names: Sequence[str], title: str = "", normalize: bool = False
):
    """A seaborn heatmap of a confusion matrix (rows: truth, columns: prediction)."""
    data = matrix.float() / matrix.sum(dim=1, keepdim=True) if normalize else matrix.long()
    fig, ax = plt.subplots(figsize=(0.55 * len(class_names) + 2, 0.5 * len(class_names) + 1.5))
    import seaborn as sns  # imported here: with pandas it costs memory most lessons never use

    sns.heatmap(
        data.numpy(),
        annot=True,
        fmt=".2f" if normalize else "d",
        cmap="Blues",
        cbar=False,
        xticklabels=class_names,
        yticklabels=class_names,
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _blank(ax) -> None:
    """No ticks or frame, but (unlike ``axis("off")``) the axis labels still show."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def show_segmentation(images, truths, predictions=None, titles=None, size: float = 2.0):
    """Rows of image / ground-truth mask / predicted mask, with column headers on top and optional
    row titles on the left. Masks: (H, W) tensors, 1 pet, 0 background, 255 ignored (drawn grey)."""
    cols = 2 if predictions is None else 3
    fig, axes = plt.subplots(
        len(images), cols, figsize=(size * cols + 0.6, size * len(images)), squeeze=False
    )
    for i in range(len(images)):
        panels = [to_image(images[i]), truths[i].float().masked_fill(truths[i] == 255, 0.5).cpu().numpy()]
        if predictions is not None:
            panels.append(predictions[i].float().cpu().numpy())
        for j, (ax, panel) in enumerate(zip(axes[i], panels, strict=True)):
            ax.imshow(panel, cmap=None if j == 0 else "gray", vmin=0, vmax=1)
            _blank(ax)
        if titles is not None:
            axes[i][0].set_ylabel(titles[i], fontsize=8)
    for ax, name in zip(axes[0], ["image", "truth (grey: border)", "prediction"], strict=False):
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


TRIMAP_COLOURS = {"pet": "tab:orange", "background": "tab:blue", "border": "white"}


def show_trimaps(images, trimaps, titles: Sequence[str] | None = None, size: float = 2.2):
    """Each image above its trimap overlay (class indices 0 pet, 1 background, 2 border), with a colour
    key. Returns the figure."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(list(TRIMAP_COLOURS.values()))
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(size * n, 2 * size + 0.5), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_image(images[i]))
        axes[1, i].imshow(to_image(images[i]))
        axes[1, i].imshow(
            torch.as_tensor(trimaps[i]).cpu().numpy(),
            cmap=cmap,
            vmin=0,
            vmax=2,
            alpha=0.55,
            interpolation="nearest",
        )
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=9)
        for ax in axes[:, i]:
            ax.axis("off")
    handles = [Patch(facecolor=c, edgecolor="black", label=name) for name, c in TRIMAP_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
