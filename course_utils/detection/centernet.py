"""A one-stage, anchor-free detector: each object is a peak on a heat-map of its class at its box's centre,
with the box's size and the centre's sub-cell offset read at that peak (CenterNet, Zhou et al. 2019,
https://arxiv.org/abs/1904.07850), small enough to train on a CPU in minutes (lesson 10).

The network sees ``(N, in_channels, H, W)`` and predicts on a grid ``stride`` times coarser:
``(N, C + 4, H / stride, W / stride)``: ``C`` class heat-map logits, then the box's width and height (in
grid cells) and the centre's offset inside its cell (x, y). Training targets have the same layout plus one
channel that marks the centre cells (:func:`encode`); :func:`decode` turns outputs back into boxes, and
:func:`decode_targets` targets.

    targets = encode(boxes, labels, num_classes=10, image_size=(64, 64))    # (C + 5, 16, 16)
    loss = centernet_loss(model(x), targets_batch)
    detections = decode(model(x), k=20)                                     # one dict per image
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import batched_nms

from ..models.base import CourseModel
from ..models.blocks import conv_bn
from .ap import check_boxes, match_detections

__all__ = ["CenterNet", "DetectionF1", "centernet_loss", "decode", "decode_targets", "encode"]


class CenterNet(CourseModel):
    """A small fully convolutional detector: two stride-2 stages (to ``stride`` 4), three dilated 3x3
    convolutions at that resolution to see whole digits, and a 1x1 head. ``(N, in_channels, H, W) ->
    (N, num_classes + 4, H / 4, W / 4)``."""

    stride = 4

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            conv_bn(in_channels, width, 3),
            conv_bn(width, width, 3, stride=2),
            conv_bn(width, 2 * width, 3),
            conv_bn(2 * width, 2 * width, 3, stride=2),
            *(_dilated(2 * width, d) for d in (1, 2, 4)),
        )
        self.head = nn.Conv2d(2 * width, num_classes + 4, 1)
        nn.init.constant_(self.head.bias[:num_classes], -math.log(99))  # every cell starts at p = 0.01

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _dilated(channels: int, dilation: int) -> nn.Sequential:
    conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU())


def encode(
    boxes: torch.Tensor, labels: torch.Tensor, num_classes: int, image_size: tuple[int, int], stride: int = 4
) -> torch.Tensor:
    """The training target of one image: ``(num_classes + 5, H / stride, W / stride)``: a Gaussian bump of
    height 1 per object on its class's heat-map at its centre cell (spread: a sixth of the box's size in
    cells, at least half a cell), the box's width and height in cells and the centre's offset in its cell
    at the centre cell, and a last channel that is 1 at the centre cells."""
    boxes = check_boxes("boxes", boxes).float()
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(labels) != len(boxes) or (
        len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes
    ):
        raise ValueError(
            f"encode: labels must be one class in [0, {num_classes}) per box; got {len(labels)} labels for "
            f"{len(boxes)} boxes: {labels.tolist()}."
        )
    height, width = image_size[0] // stride, image_size[1] // stride
    target = torch.zeros(num_classes + 5, height, width)
    ys, xs = torch.arange(height).float()[:, None], torch.arange(width).float()[None, :]
    for box, label in zip(boxes / stride, labels.tolist(), strict=True):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = box[2] - box[0], box[3] - box[1]
        i, j = min(int(cy), height - 1), min(int(cx), width - 1)  # the centre's cell
        sigma = max(0.5, float(min(w, h)) / 6)
        bump = torch.exp(-((xs - j) ** 2 + (ys - i) ** 2) / (2 * sigma**2))
        target[label] = torch.maximum(target[label], bump)
        target[num_classes:, i, j] = torch.stack([w, h, cx - j, cy - i, torch.tensor(1.0)])
    return target


def decode(
    output: torch.Tensor, k: int = 20, threshold: float = 0.05, nms: float | None = None, stride: int = 4
) -> list[dict]:
    """Boxes from a batch of outputs ``(N, C + 4, h, w)``.

    A cell is a detection when its class score is the largest in its 3x3 neighbourhood (the peak) and at
    least ``threshold``; the ``k`` best peaks per image are kept. ``nms``: an IoU above which a lower-scored
    box of the same class is removed (``torchvision.ops.batched_nms``); None keeps every peak. Returns one
    dict per image: ``boxes`` (m, 4) in pixels, ``scores`` (m,), ``labels`` (m,)."""
    if output.ndim != 4 or output.shape[1] < 5:
        raise ValueError(f"decode: output must be (N, classes + 4, h, w), got {tuple(output.shape)}.")
    num_classes = output.shape[1] - 4
    heat = torch.sigmoid(output[:, :num_classes])
    return _peaks_to_boxes(heat, output[:, num_classes:], k, threshold, nms, stride)


def _peaks_to_boxes(heat, geometry, k, threshold, nms, stride) -> list[dict]:
    n, num_classes, height, width = heat.shape
    peaks = heat * (heat == F.max_pool2d(heat, 3, stride=1, padding=1))
    scores, index = peaks.flatten(1).topk(min(k, num_classes * height * width))
    labels, cell = index // (height * width), index % (height * width)
    i, j = cell // width, cell % width
    results = []
    for b in range(n):
        keep = scores[b] >= threshold
        ii, jj = i[b][keep], j[b][keep]
        w, h, dx, dy = (geometry[b, c, ii, jj] for c in range(4))
        w, h = w.clamp(min=0), h.clamp(min=0)  # a size below zero is an empty box, not an inverted one
        cx, cy = (jj + dx) * stride, (ii + dy) * stride
        boxes = torch.stack(
            [cx - w * stride / 2, cy - h * stride / 2, cx + w * stride / 2, cy + h * stride / 2], 1
        )
        found = {"boxes": boxes, "scores": scores[b][keep], "labels": labels[b][keep]}
        if nms is not None and len(boxes):
            kept = batched_nms(boxes, found["scores"], found["labels"], nms)
            found = {key: value[kept] for key, value in found.items()}
        results.append(found)
    return results


def decode_targets(targets: torch.Tensor, stride: int = 4) -> list[dict]:
    """The boxes a batch of :func:`encode` targets ``(N, C + 5, h, w)`` holds (its marked centre cells)."""
    num_classes = targets.shape[1] - 5
    centres = targets[:, -1:] * targets[:, :num_classes]  # the marked cells of each object's class
    return _peaks_to_boxes(centres, targets[:, num_classes:-1], centres[0].numel(), 0.5, None, stride)


def centernet_loss(output: torch.Tensor, target: torch.Tensor, size_weight: float = 0.1) -> torch.Tensor:
    """CenterNet's loss: the penalty-reduced focal loss on the heat-maps (alpha 2, beta 4; cells near a centre
    are punished less for a high score), plus L1 on the size (weighted ``size_weight``) and the offset at the
    centre cells; each divided by the number of objects."""
    num_classes = output.shape[1] - 4
    if target.shape[1] != num_classes + 5 or target.shape[-2:] != output.shape[-2:]:
        raise ValueError(
            f"centernet_loss: targets must be (N, {num_classes + 5}, {output.shape[-2]}, {output.shape[-1]}) "
            f"for these outputs, got {tuple(target.shape)}; make them with encode()."
        )
    heat, truth = output[:, :num_classes], target[:, :num_classes]
    centre = target[:, -1]
    objects = centre.sum().clamp(min=1)
    p = torch.sigmoid(heat).clamp(1e-4, 1 - 1e-4)
    positive = truth.eq(1).float()
    focal = -(
        positive * (1 - p) ** 2 * torch.log(p) + (1 - positive) * (1 - truth) ** 4 * p**2 * torch.log(1 - p)
    )
    geometry = (output[:, num_classes:] - target[:, num_classes:-1]).abs() * centre[:, None]
    size, offset = geometry[:, :2].sum(), geometry[:, 2:].sum()
    return (focal.sum() + size_weight * size + offset) / objects


class DetectionF1:
    """The F1 score of the detections at IoU ``iou`` among those scored at least ``threshold``, as the
    course's metrics are: ``(2 TP, detections + true boxes)`` per batch, which add up over batches (mean
    average precision does not). ``fit()`` picks its best epoch with it; lessons report mAP."""

    name = "det_f1"

    def __init__(self, threshold: float = 0.3, iou: float = 0.5):
        self.threshold, self.iou = threshold, iou

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor):
        found, truth = decode(outputs.detach().float(), threshold=self.threshold), decode_targets(targets)
        tp = found_n = truth_n = 0
        for f, t in zip(found, truth, strict=True):
            for c in set(f["labels"].tolist()) | set(t["labels"].tolist()):
                mine, theirs = f["labels"] == c, t["labels"] == c
                tp += int(
                    match_detections(f["boxes"][mine], f["scores"][mine], t["boxes"][theirs], self.iou).sum()
                )
            found_n, truth_n = found_n + len(f["boxes"]), truth_n + len(t["boxes"])
        return torch.tensor(2.0 * tp), torch.tensor(float(found_n + truth_n))
