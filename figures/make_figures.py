"""Draw the course's diagrams with matplotlib: ``python figures/make_figures.py``.

Writes cnn_principles.png, residual_block.png, unet_architecture.png and colab_badge.png next to
this file; nothing in figures/ is pasted from elsewhere. The notebooks carry them as cell attachments
(``python tools/sync_notebooks.py`` copies them in; tests/test_links.py checks they are current).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
COLORS = {"input": "#d9d9d9", "conv": "#9ecae1", "pool": "#fdd0a2", "fc": "#c7e9c0", "out": "#fcbba1"}


def stack(ax, x, y, w, h, depth, color, label, n=3):
    """A stack of ``n`` offset rectangles: a set of feature maps."""
    for i in reversed(range(n)):
        ax.add_patch(Rectangle((x + i * depth, y + i * depth), w, h, fc=color, ec="black", lw=0.8))
    ax.text(x + w / 2 + n * depth / 2, y - 0.35, label, ha="center", va="top", fontsize=8)


def arrow(ax, start, end, text=""):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=1))
    if text:
        ax.text((start[0] + end[0]) / 2, start[1] + 0.25, text, ha="center", fontsize=7)


def save(fig, ax, path: Path, xlim, ylim) -> None:
    """Frame the drawing, hide the axes, write the PNG."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def cnn_principles(path: Path) -> None:
    """LeNet-5 as a picture. Each stage is laid out after the previous one, with a gap wide enough for
    the arrow and its label, so no label is drawn over a box."""
    fig, ax = plt.subplots(figsize=(11, 3.2))
    stages = [  # (side, depth per map, maps, colour, label)
        (1.6, 0.0, 1, COLORS["input"], "input\n1x28x28"),
        (1.6, 0.12, 6, COLORS["conv"], "conv 5x5 + ReLU\n6x28x28"),
        (0.8, 0.12, 6, COLORS["pool"], "max-pool 2\n6x14x14"),
        (0.6, 0.05, 16, COLORS["conv"], "conv 5x5 + ReLU\n16x10x10"),
        (0.3, 0.05, 16, COLORS["pool"], "max-pool 2\n16x5x5"),
    ]
    verbs = ["convolve", "pool", "convolve", "pool", "flatten"]
    gap, x, centre = 1.25, 0.0, 1.8
    for (side, depth, n, colour, label), verb in zip(stages, verbs, strict=True):
        stack(ax, x, centre - side / 2, side, side, depth, colour, label, n=n)
        x += side + n * depth
        arrow(ax, (x + 0.15, centre), (x + gap - 0.15, centre), verb)
        x += gap
    for h, label in [(2.4, "FC 120"), (1.7, "FC 84"), (1.0, "10 classes")]:
        ax.add_patch(Rectangle((x, centre - h / 2), 0.35, h, fc=COLORS["fc"], ec="black", lw=0.8))
        ax.text(x + 0.17, centre - h / 2 - 0.35, label, ha="center", va="top", fontsize=8)
        x += 1.0
    ax.text(4.6, 3.55, "feature extraction: convolution, activation, pooling", ha="center", fontsize=10)
    ax.text(x - 1.7, 3.55, "classification: fully connected", ha="center", fontsize=10)
    save(fig, ax, path, (-0.2, x), (-0.5, 3.8))


def residual_block(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(3.2, 4.2))
    boxes = [(3.6, "conv 3x3, BN, ReLU"), (2.4, "conv 3x3, BN"), (1.2, "+"), (0.3, "ReLU")]
    for y, label in boxes:
        w = 0.5 if label == "+" else 2.2
        ax.add_patch(Rectangle((1.5 - w / 2, y), w, 0.5, fc=COLORS["conv"] if w > 1 else "white", ec="black"))
        ax.text(1.5, y + 0.25, label, ha="center", va="center", fontsize=9)
    ax.text(1.5, 4.75, "x", ha="center", fontsize=11)
    for y0, y1 in [(4.6, 4.1), (3.6, 2.9), (2.4, 1.7), (1.2, 0.8)]:
        arrow(ax, (1.5, y0), (1.5, y1))
    # the skip path runs to the right of the boxes: out of x, down, into the addition
    ax.plot([1.5, 3.0, 3.0], [4.35, 4.35, 1.45], color="tab:red", lw=1)
    ax.add_patch(
        FancyArrowPatch((3.0, 1.45), (1.8, 1.45), arrowstyle="-|>", mutation_scale=10, lw=1, color="tab:red")
    )
    ax.text(3.1, 2.9, "identity\n(skip)", color="tab:red", fontsize=9, ha="left", va="center")
    ax.text(1.5, -0.15, "out = ReLU(F(x) + x)", ha="center", fontsize=9)
    save(fig, ax, path, (0, 4.0), (-0.4, 5.0))


def unet_architecture(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.2))
    widths = [64, 128, 256, 512]
    for i, c in enumerate(widths):
        y = 4 - i
        size = 128 // 2**i
        ax.add_patch(Rectangle((i * 0.9, y), 0.5, 0.7, fc=COLORS["conv"], ec="black"))
        ax.text(i * 0.9 - 0.08, y + 0.35, f"{c}ch\n{size}x{size}", ha="right", va="center", fontsize=7)
        xr = 8.1 - i * 0.9
        ax.add_patch(Rectangle((xr, y), 0.5, 0.7, fc=COLORS["fc"], ec="black"))
        ax.text(xr + 0.58, y + 0.35, f"{c}ch", ha="left", va="center", fontsize=7)
        arrow(ax, (i * 0.9 + 0.55, y + 0.35), (xr - 0.05, y + 0.35), "skip: concatenate" if i == 0 else "")
        if i < 3:
            arrow(ax, (i * 0.9 + 0.25, y - 0.02), (i * 0.9 + 1.1, y - 0.28))
            arrow(ax, (xr - 0.6, y - 0.28), (xr + 0.25, y - 0.02))
    ax.add_patch(Rectangle((3.95, 0.2), 0.7, 0.7, fc=COLORS["pool"], ec="black"))
    ax.text(4.3, 0.08, "bottleneck 1024ch 8x8", ha="center", va="top", fontsize=7)
    arrow(ax, (2.95, 0.98), (3.9, 0.7))
    arrow(ax, (4.7, 0.7), (5.45, 0.98))
    ax.text(1.4, 4.95, "encoder: double conv, then max-pool", ha="center", fontsize=9)
    ax.text(7.0, 4.95, "decoder: up-conv 2x2, concat skip, double conv", ha="center", fontsize=9)
    ax.text(9.35, 4.35, "1x1 conv\n-> mask", fontsize=8, va="center")
    save(fig, ax, path, (-0.9, 10.4), (-0.4, 5.2))


def colab_badge(path: Path) -> None:
    """An "Open in Colab" badge, drawn here so that it shows offline (the notebooks carry it)."""
    fig = plt.figure(figsize=(1.25, 0.22))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.add_patch(Rectangle((0, 0), 0.3, 1, fc="#555555", ec="none"))
    ax.add_patch(Rectangle((0.3, 0), 0.7, 1, fc="#F9AB00", ec="none"))
    ax.text(0.15, 0.5, "CO", color="white", fontsize=7, fontweight="bold", ha="center", va="center")
    ax.text(0.65, 0.5, "Open in Colab", color="white", fontsize=7, ha="center", va="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    for draw in (cnn_principles, residual_block, unet_architecture, colab_badge):
        path = HERE / f"{draw.__name__}.png"
        draw(path)
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
