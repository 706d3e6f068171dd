"""Detection scenes built from real MNIST digits: several digits per canvas, each with its box and class.

    scenes = make_scenes(mnist.train, 12_000, seed=0)   # from the training digits only
    scenes.x[0]          # (1, 64, 64) uint8 canvas
    scenes.boxes[0]      # (k, 4) float boxes (x1, y1, x2, y2), edges included, from the digits' pixels
    scenes.labels[0]     # (k,) int64 digit classes

Each scene draws its number of digits, then for each digit a source image (from the split given, so test
scenes are made of test digits), a size and a position; a digit whose square would overlap an earlier one's
by more than ``max_overlap`` (intersection over union) is drawn again. Digits are resized with bilinear
interpolation and combined by the pixel-wise maximum. A digit's box is the tight box of its pixels brighter
than ``ink`` (``torchvision.ops.masks_to_boxes``), not its square.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, masks_to_boxes

from ..data import Dataset, Split, channel_stats

__all__ = ["Scenes", "make_scenes", "scenes_dataset"]


@dataclass
class Scenes:
    """``n`` canvases ``x`` (n, 1, H, W) uint8, and per canvas its ``boxes`` (k, 4) and ``labels`` (k,)."""

    x: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[i], self.boxes[i], self.labels[i]


def _check_range(name: str, pair, low: int, example: str) -> tuple[int, int]:
    if not (len(pair) == 2 and low <= pair[0] <= pair[1]):
        raise ValueError(
            f"make_scenes: {name} must be (smallest, largest) with {low} <= smallest <= largest, "
            f"got {pair!r}; e.g. {name}={example}."
        )
    return int(pair[0]), int(pair[1])


def make_scenes(
    split: Split,
    n: int,
    seed: int = 0,
    canvas: int = 64,
    digits: tuple[int, int] = (1, 4),
    sizes: tuple[int, int] = (14, 36),
    max_overlap: float = 0.2,
    ink: int = 64,
) -> Scenes:
    """``n`` scenes of ``digits[0]`` to ``digits[1]`` digits from ``split`` (MNIST images (N, 1, 28, 28)
    uint8 and labels), each resized to a square of ``sizes[0]`` to ``sizes[1]`` pixels, on a black
    ``canvas x canvas`` image; the same arguments and ``seed`` give the same scenes."""
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"make_scenes: n must be a positive whole number of scenes, got {n!r}.")
    low, high = _check_range("digits", digits, 0, "(1, 4)")
    small, large = _check_range("sizes", sizes, 4, "(14, 36)")
    if large > canvas:
        raise ValueError(
            f"make_scenes: sizes[1]={large} does not fit a canvas of {canvas} pixels; "
            "use a larger canvas or smaller digits."
        )
    if split.x.ndim != 4 or split.x.shape[1] != 1 or split.x.dtype != torch.uint8:
        raise ValueError(
            f"make_scenes: split.x must be uint8 images (N, 1, H, W), got {tuple(split.x.shape)} "
            f"{split.x.dtype}; pass e.g. cu.load_mnist().train."
        )
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        squares, boxes, labels = [], [], []
        for _ in range(int(torch.randint(low, high + 1, (1,), generator=g))):
            for _attempt in range(20):
                size = int(torch.randint(small, large + 1, (1,), generator=g))
                top, left = (int(v) for v in torch.randint(0, canvas - size + 1, (2,), generator=g))
                square = torch.tensor([[left, top, left + size, top + size]], dtype=torch.float32)
                if not squares or box_iou(square, torch.cat(squares)).max() <= max_overlap:
                    break
            else:
                continue  # no free place for this digit: the scene has one digit fewer
            k = int(torch.randint(len(split), (1,), generator=g))
            digit = F.interpolate(split.x[k : k + 1].float(), size=(size, size), mode="bilinear")
            digit = digit.round().clamp(0, 255).to(torch.uint8)[0, 0]
            mask = torch.zeros(canvas, canvas, dtype=torch.bool)
            mask[top : top + size, left : left + size] = digit > ink
            if not mask.any():
                continue
            patch = x[i, 0, top : top + size, left : left + size]
            torch.maximum(patch, digit, out=patch)
            squares.append(square)
            boxes.append(masks_to_boxes(mask[None])[0] + torch.tensor([0.0, 0.0, 1.0, 1.0]))  # edges included
            labels.append(int(split.y[k]))
        all_boxes.append(torch.stack(boxes) if boxes else torch.zeros(0, 4))
        all_labels.append(torch.tensor(labels, dtype=torch.long))
    return Scenes(x, all_boxes, all_labels)


def scenes_dataset(
    mnist: Dataset, sizes: tuple[int, int, int] = (12_000, 1_000, 2_000), seed: int = 0, **scene_args
) -> Dataset:
    """Train, validation and test scenes made from ``mnist``'s own splits (test scenes of test digits only),
    as a :class:`~course_utils.data.Dataset` for the course's loaders: ``x`` the canvases (N, 1, H, W)
    uint8, ``y`` the detector's targets (N, 15, H / 4, W / 4) from :func:`~.centernet.encode`, from which
    :func:`~.centernet.decode_targets` gives the boxes back exactly. Each split has its own seed
    (``seed``, ``seed + 1``, ``seed + 2``); ``scene_args`` go to :func:`make_scenes`."""
    from .centernet import encode  # the scenes module stays free of the detector otherwise

    splits = {}
    for k, (name, n) in enumerate(zip(("train", "val", "test"), sizes, strict=True)):
        scenes = make_scenes(getattr(mnist, name), n, seed=seed + k, **scene_args)
        size = tuple(scenes.x.shape[-2:])
        y = torch.stack(
            [encode(b, c, mnist.num_classes, size) for b, c in zip(scenes.boxes, scenes.labels, strict=True)]
        )
        splits[name] = Split(scenes.x, y)
    mean, std = channel_stats(splits["train"].x)
    return Dataset(
        "mnist_scenes", splits["train"], splits["val"], splits["test"], mean, std, mnist.class_names
    )
