"""Plots the lessons share: learning curves, image grids, confusion matrices, masks."""

from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

__all__ = [
    "imshow_signed",
    "plot_confusion",
    "plot_history",
    "show_images",
    "show_segmentation",
    "show_trimaps",
    "to_image",
]


def plot_history(losses: dict, metrics: dict | None = None, metric_name: str = "accuracy", title: str = ""):
    """Train vs validation loss (and metric) per epoch, side by side. Returns the figure."""
    ncols = 1 if metrics is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.2), squeeze=False)
    panels = [("loss", losses)] + ([] if metrics is None else [(metric_name, metrics)])
    for ax, (name, values) in zip(axes[0], panels, strict=True):
        for phase, style in (("train", "-"), ("val", "--")):
            ax.plot(range(1, len(values[phase]) + 1), values[phase], style, label=phase)
        ax.set_xlabel("epoch")  # counted from 1, as the trainer prints them
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


def imshow_signed(ax, image, title: str = "", limit: float | None = None, colorbar: bool = True):
    """Draw a signed map (a feature map, a gradient) on ``ax``: red positive, blue negative, white 0.

    ``image``: one (H, W) map, tensor or array (leading size-1 dimensions, as in (1, 1, H, W), are
    dropped). The colour scale is centred on 0 and runs from ``-limit`` to ``limit``; by default
    ``limit`` is the map's largest absolute value, pass the same one to several panels to compare them.
    A colourbar is drawn next to ``ax`` unless ``colorbar=False``. Returns the ``AxesImage``.
    """
    shape = tuple(torch.as_tensor(image).shape)
    values = torch.as_tensor(image).detach().cpu().float()
    while values.dim() > 2 and values.shape[0] == 1:
        values = values[0]
    if values.dim() != 2:
        raise ValueError(
            f"imshow_signed: image must be one 2-D map (H, W); got shape {shape}. "
            "Pass one channel, e.g. feature_maps[0, c]."
        )
    if limit is None:
        limit = values.abs().max().item()
    elif not limit > 0:
        raise ValueError(
            f"imshow_signed: limit must be a positive number; got {limit}. Leave it out to use max |image|."
        )
    limit = limit or 1.0  # an all-zero map: any symmetric scale shows it white
    shown = ax.imshow(values.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return shown


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


def _wrapped(label: str, width: int) -> str:
    """``label`` broken into lines of at most ``width`` characters after an underscore, a hyphen or a
    space (a single longer word stays whole): "american_bulldog" -> "american_\nbulldog"."""
    lines = [""]
    for token in re.split(r"(?<=[_\s-])", str(label)):
        if lines[-1] and len(lines[-1]) + len(token.rstrip()) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(line.rstrip() for line in lines)


def plot_confusion(
    matrix: torch.Tensor,
    class_names: Sequence[str],
    title: str = "",
    normalize: bool = False,
    *,
    ax=None,
    colorbar: bool = True,
    wrap: int = 10,
):
    """A confusion matrix as a heatmap, rows the true class and columns the prediction. Returns the figure.

    ``matrix``: (K, K) counts (:func:`~course_utils.confusion_matrix`), ``class_names``: K labels, broken
    into lines of ``wrap`` characters (and the column labels slanted when K > 4 and a label is long).
    Each cell shows its count; with ``normalize`` the colour is the share of the row (the true class's
    images) and the cell shows that share above the count, on a 0-1 scale that several matrices share.
    ``ax``: draw on this Axes (e.g. one of ``plt.subplots(1, 3)``, for matrices side by side) instead of
    a new figure; ``colorbar``: add the colour scale beside it.
    """
    matrix = torch.as_tensor(matrix).detach().cpu()
    k = len(class_names)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != k:
        raise ValueError(
            f"plot_confusion: matrix must be K x K with K = len(class_names) = {k}, got shape "
            f"{tuple(matrix.shape)}; build it with cu.confusion_matrix(predictions, targets, {k})."
        )
    counts = matrix.long()
    rows = counts.sum(dim=1, keepdim=True).clamp(min=1)  # an empty row shows zeros, not NaN
    shown = (counts.float() / rows).numpy() if normalize else counts.numpy()
    vmax = 1.0 if normalize else max(int(counts.max()), 1)
    own_figure = ax is None
    if own_figure:
        side = 0.55 * k + 1.5
        _, ax = plt.subplots(figsize=(side + (0.9 if colorbar else 0), side))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
    size = 9 if k <= 5 else 7
    for i in range(k):
        for j in range(k):
            count = int(counts[i, j])
            text = f"{shown[i, j]:.2f}\n({count})" if normalize else f"{count}"
            dark = shown[i, j] > 0.55 * vmax  # white text on the darkest cells
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color="white" if dark else "black")
    labels = [_wrapped(name, wrap) for name in class_names]
    slant = k > 4 and max(len(line) for label in labels for line in label.split("\n")) > 3
    ax.set_xticks(range(k), labels, fontsize=size + 1)
    ax.set_yticks(range(k), labels, fontsize=size + 1)
    if slant:
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label("share of the true class" if normalize else "images", fontsize=8)
    if own_figure:  # on a given Axes the caller lays out its figure
        ax.figure.tight_layout()
    return ax.figure


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
