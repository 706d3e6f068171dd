"""Plots the lessons share: learning curves, image grids, confusion matrices, masks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch


def plot_history(losses: dict, metrics: dict | None = None, metric_name: str = "accuracy", title: str = ""):
    """Train vs validation loss (and metric) per epoch, side by side. Returns the figure."""
    ncols = 1 if metrics is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.2), squeeze=False)
    panels = [("loss", losses)] + ([] if metrics is None else [(metric_name, metrics)])
    for ax, (name, values) in zip(axes[0], panels, strict=True):
        for phase, style in (("train", "-"), ("val", "--")):
            ax.plot(values[phase], style, label=phase)
        ax.set_xlabel("epoch")
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
    """A grid of (C, H, W) images with optional titles. Returns the figure."""
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_image(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts[i, j] = number of samples of true class i predicted as j."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion(
    matrix: torch.Tensor, class_names: Sequence[str], title: str = "", normalize: bool = False
):
    """A seaborn heatmap of a confusion matrix (rows: truth, columns: prediction)."""
    data = matrix.float() / matrix.sum(dim=1, keepdim=True) if normalize else matrix.long()
    fig, ax = plt.subplots(figsize=(0.55 * len(class_names) + 2, 0.5 * len(class_names) + 1.5))
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


def show_segmentation(images, truths, predictions=None, titles=None, size: float = 2.0):
    """Rows of image / ground-truth mask / predicted mask (masks: (H, W) tensors, 255 = ignored)."""
    cols = 2 if predictions is None else 3
    fig, axes = plt.subplots(len(images), cols, figsize=(size * cols, size * len(images)), squeeze=False)
    for i in range(len(images)):
        panels = [to_image(images[i]), truths[i].float().masked_fill(truths[i] == 255, 0.5)]
        if predictions is not None:
            panels.append(predictions[i].float())
        for j, (ax, panel) in enumerate(zip(axes[i], panels, strict=True)):
            ax.imshow(panel, cmap=None if j == 0 else "gray", vmin=0, vmax=1)
            ax.axis("off")
        if titles is not None:  # one title per row, over the image
            axes[i][0].set_title(titles[i], fontsize=8)
    if titles is None:  # otherwise, column headers
        for ax, name in zip(axes[0], ["image", "truth (grey: border)", "prediction"], strict=False):
            ax.set_title(name, fontsize=8)
    fig.tight_layout()
    return fig
