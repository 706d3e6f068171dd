"""Average precision, written out as COCO computes it (``pycocotools.cocoeval``), for lesson 10.

For one class and one IoU threshold: sort every detection of every image by score; walk down the list and
call a detection a *true positive* when it overlaps a not-yet-matched true box of its image by at least the
threshold (the true box it overlaps most), else a *false positive*. After each detection, precision is
TP / (TP + FP) and recall TP / (number of true boxes). AP is the mean, over the 101 recall levels 0, 0.01,
..., 1, of the best precision reached at that recall or beyond (the interpolated precision), 0 where the
recall is never reached. COCO's mAP averages AP over the classes that have true boxes, and
``mAP@[.5:.95]`` also over the ten thresholds 0.5, 0.55, ..., 0.95.

    preds = [{"boxes": (k, 4), "scores": (k,), "labels": (k,)}, ...]   # one dict per image
    truth = [{"boxes": (m, 4), "labels": (m,)}, ...]
    result = mean_average_precision(preds, truth, num_classes=10)
    result["map50"], result["map"]          # mAP at IoU 0.5, and averaged over 0.5:0.95
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = [
    "COCO_THRESHOLDS",
    "average_precision",
    "check_boxes",
    "match_detections",
    "mean_average_precision",
]

# The thresholds and recall levels exactly as pycocotools makes them (numpy's linspace, float64).
COCO_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10).tolist())
_RECALLS = torch.from_numpy(np.linspace(0.0, 1.0, 101))


def check_boxes(name: str, boxes: torch.Tensor) -> torch.Tensor:
    """``boxes`` as float64 ``(k, 4)`` ``(x1, y1, x2, y2)``; a ValueError naming ``name`` and the fix
    otherwise."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{name} must be boxes of shape (k, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)}."
        )
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        raise ValueError(
            f"{name}: box {int(bad.nonzero()[0])} {boxes[bad][0].tolist()} has x2 < x1 or y2 < y1; boxes are "
            "(x1, y1, x2, y2), top-left corner first (torchvision.ops.box_convert converts other formats)."
        )
    return boxes


def match_detections(
    boxes: torch.Tensor, scores: torch.Tensor, truth: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Which of one image's detections of one class are true positives at ``iou_threshold``.

    Detections are taken by descending score (ties in the order given); each takes the unmatched true box it
    overlaps most, if that overlap is at least the threshold. Returns a bool tensor in the order given."""
    boxes, truth = check_boxes("boxes", boxes), check_boxes("truth", truth)
    scores = torch.as_tensor(scores)
    if len(scores) != len(boxes):
        raise ValueError(f"match_detections: {len(boxes)} boxes but {len(scores)} scores; one score per box.")
    hit = torch.zeros(len(boxes), dtype=torch.bool)
    if not len(boxes) or not len(truth):
        return hit
    iou = box_iou(boxes, truth)
    free = torch.ones(len(truth), dtype=torch.bool)
    for d in torch.sort(scores, descending=True, stable=True).indices.tolist():
        candidates = torch.where(free & (iou[d] >= iou_threshold), iou[d], -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= 0:
            hit[d], free[best] = True, False
    return hit


def average_precision(scores: torch.Tensor, true_positive: torch.Tensor, num_truth: int) -> float:
    """COCO's 101-point interpolated AP of detections pooled over images: their ``scores``, whether each
    is a true positive (:func:`match_detections`), and the number of true boxes. NaN when there are none
    (COCO leaves such a class out of the mean)."""
    if num_truth == 0:
        return float("nan")
    order = torch.sort(torch.as_tensor(scores, dtype=torch.float64), descending=True, stable=True).indices
    tp = torch.as_tensor(true_positive, dtype=torch.float64)[order]
    if not len(tp):
        return 0.0
    tp_sum, fp_sum = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = tp_sum / num_truth
    precision = tp_sum / (tp_sum + fp_sum + np.spacing(1))
    precision = precision.flip(0).cummax(0).values.flip(0)  # the best precision at this recall or beyond
    index = torch.searchsorted(recall, _RECALLS, side="left")
    reached = index < len(precision)
    return float(torch.where(reached, precision[index.clamp(max=len(precision) - 1)], 0.0).mean())


def mean_average_precision(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    num_classes: int,
    iou_thresholds: Sequence[float] = COCO_THRESHOLDS,
    max_detections: int = 100,
) -> dict:
    """AP per threshold and class, and their means: ``{"ap": (T, C) tensor (NaN for classes without true
    boxes), "map": the mean over thresholds and classes, "map50": at IoU 0.5 (if among the thresholds),
    "thresholds": ...}``. Each image keeps its ``max_detections`` best-scored detections per class."""
    if len(predictions) != len(targets):
        raise ValueError(
            f"mean_average_precision: {len(predictions)} predictions but {len(targets)} targets; "
            "give one dict per image in both."
        )
    images = [  # checked once: (boxes, scores, labels) predicted, (boxes, labels) true
        (
            check_boxes("predictions' boxes", pred["boxes"]),
            torch.as_tensor(pred["scores"]),
            torch.as_tensor(pred["labels"]),
            check_boxes("targets' boxes", target["boxes"]),
            torch.as_tensor(target["labels"]),
        )
        for pred, target in zip(predictions, targets, strict=True)
    ]
    ap = torch.full((len(iou_thresholds), num_classes), float("nan"), dtype=torch.float64)
    for c in range(num_classes):
        per_image = []
        for boxes, scores, labels, truth, truth_labels in images:
            boxes, scores = boxes[labels == c], scores[labels == c]
            top = torch.sort(scores, descending=True, stable=True).indices[:max_detections]
            per_image.append((boxes[top], scores[top], truth[truth_labels == c]))
        num_truth = sum(len(truth) for *_, truth in per_image)
        scores = torch.cat([s for _, s, _ in per_image]) if per_image else torch.zeros(0)
        for t, threshold in enumerate(iou_thresholds):
            hits = [match_detections(b, s, truth, threshold) for b, s, truth in per_image]
            ap[t, c] = average_precision(scores, torch.cat(hits) if hits else torch.zeros(0), num_truth)
    present = ~ap[0].isnan()
    result = {
        "ap": ap,
        "thresholds": tuple(iou_thresholds),
        "map": float(ap[:, present].mean()) if present.any() else float("nan"),
    }
    for t, threshold in enumerate(iou_thresholds):
        if abs(threshold - 0.5) < 1e-9:
            result["map50"] = float(ap[t, present].mean()) if present.any() else float("nan")
    return result
