"""Lesson 10's detection pieces: scenes of real digits with their boxes, and average precision written out
as COCO computes it, checked on hand-made cases with known answers and against pycocotools itself."""

import contextlib
import io

import pytest
import torch

from course_utils.data import Split
from course_utils.detection import (
    CenterNet,
    average_precision,
    centernet_loss,
    decode,
    decode_targets,
    encode,
    make_scenes,
    match_detections,
    mean_average_precision,
)


@pytest.fixture(scope="module")
def digits():
    """64 stand-in digits: a bright bar in a 28x28 image, class = its row band."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    y = torch.randint(0, 10, (64,), generator=g)
    for i in range(64):
        x[i, 0, 6:22, 10 + int(y[i]) % 8 : 14 + int(y[i]) % 8] = 255
    return Split(x, y)


def test_scenes_are_reproducible_and_their_boxes_are_the_digits_pixels(digits):
    a, b = make_scenes(digits, 50, seed=3), make_scenes(digits, 50, seed=3)
    assert torch.equal(a.x, b.x) and all(torch.equal(p, q) for p, q in zip(a.boxes, b.boxes, strict=True))
    assert not torch.equal(a.x, make_scenes(digits, 50, seed=4).x)
    counts = [len(box) for box in a.boxes]
    assert min(counts) >= 1 and max(counts) <= 4 and a.x.shape == (50, 1, 64, 64)
    for x, boxes, labels in (a[i] for i in range(len(a))):
        assert len(boxes) == len(labels) and labels.max() < 10
        assert (
            (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        )
        ink = x[0] > 64
        inside = torch.zeros_like(ink)
        for x1, y1, x2, y2 in boxes.int().tolist():
            inside[y1:y2, x1:x2] = True
            # tight: each edge row and column of the box holds ink
            assert ink[y1, x1:x2].any() and ink[y2 - 1, x1:x2].any()
            assert ink[y1:y2, x1].any() and ink[y1:y2, x2 - 1].any()
        assert not (ink & ~inside).any()  # no ink outside the boxes


def test_scenes_refuse_bad_arguments(digits):
    with pytest.raises(ValueError, match="n must be a positive"):
        make_scenes(digits, 0)
    with pytest.raises(ValueError, match="sizes.*smallest <= largest"):
        make_scenes(digits, 2, sizes=(30, 20))
    with pytest.raises(ValueError, match="does not fit a canvas"):
        make_scenes(digits, 2, sizes=(14, 80))
    with pytest.raises(ValueError, match=r"uint8 images \(N, 1, H, W\)"):
        make_scenes(Split(digits.x.float(), digits.y), 2)


def test_average_precision_on_hand_made_cases():
    assert average_precision(torch.tensor([0.9, 0.8]), torch.tensor([True, True]), 2) == pytest.approx(1.0)
    # a false positive scored above the only true positive: precision 1/2 at every recall level
    assert average_precision(torch.tensor([0.9, 0.8]), torch.tensor([False, True]), 1) == pytest.approx(0.5)
    # half the truths found, all correct: recall levels 0, 0.01, ..., 0.5 at precision 1, the rest 0
    assert average_precision(torch.tensor([0.9]), torch.tensor([True]), 2) == pytest.approx(51 / 101)
    assert average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 3) == 0.0
    assert average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0) != 0.0  # NaN: no truths


def test_a_duplicate_detection_is_a_false_positive_and_the_best_scored_one_matches():
    truth = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    boxes = torch.tensor([[10.0, 10.0, 20.0, 21.0], [10.0, 10.0, 20.0, 20.0]])
    hit = match_detections(boxes, torch.tensor([0.9, 0.5]), truth, 0.5)
    assert hit.tolist() == [True, False]  # the higher score matches, even with the lower IoU
    assert match_detections(boxes, torch.tensor([0.9, 0.5]), truth, 0.95).tolist() == [False, True]


def test_boxes_with_x2_below_x1_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="x2 < x1 or y2 < y1.*box_convert"):
        match_detections(torch.tensor([[5.0, 5.0, 2.0, 9.0]]), torch.tensor([1.0]), torch.zeros(0, 4), 0.5)
    with pytest.raises(ValueError, match=r"shape \(k, 4\)"):
        match_detections(torch.zeros(3), torch.tensor([1.0]), torch.zeros(0, 4), 0.5)


def _random_case(seed: int, images: int = 25, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    preds, truth = [], []
    for _ in range(images):
        m = int(torch.randint(0, 5, (1,), generator=g))
        xy = torch.rand(m, 2, generator=g) * 80
        wh = 5 + torch.rand(m, 2, generator=g) * 30
        boxes = torch.cat([xy, xy + wh], 1).round()
        labels = torch.randint(0, classes, (m,), generator=g)
        keep = torch.rand(m, generator=g) < 0.8  # some truths are missed
        jitter = (torch.rand(m, 4, generator=g) - 0.5) * 8
        found = (boxes + jitter)[keep]
        found[:, 2:] = torch.maximum(found[:, 2:], found[:, :2] + 1)
        k = int(torch.randint(0, 3, (1,), generator=g))  # false positives
        fxy = torch.rand(k, 2, generator=g) * 80
        false = torch.cat([fxy, fxy + 10], 1)
        preds.append(
            {
                "boxes": torch.cat([found, false]),
                "scores": torch.rand(len(found) + k, generator=g),
                "labels": torch.cat([labels[keep], torch.randint(0, classes, (k,), generator=g)]),
            }
        )
        truth.append({"boxes": boxes, "labels": labels})
    return preds, truth


def _pycocotools_map(preds, truth, classes: int) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        x1, y1, x2, y2 = box.tolist()
        return [x1, y1, x2 - x1, y2 - y1]

    annotations = []
    for i, t in enumerate(truth):
        for b, c in zip(t["boxes"], t["labels"], strict=True):
            area = float((b[2] - b[0]) * (b[3] - b[1]))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": int(c),
                    "bbox": xywh(b),
                    "iscrowd": 0,
                    "area": area,
                }  # fmt: skip
            )
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i} for i in range(len(truth))],
        "annotations": annotations,
        "categories": [{"id": c} for c in range(classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(
            [
                {"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
                for i, p in enumerate(preds)
                for b, s, c in zip(p["boxes"], p["scores"], p["labels"], strict=True)
            ]
        )
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mean_average_precision_equals_pycocotools(seed):
    pytest.importorskip("pycocotools")
    preds, truth = _random_case(seed)
    ours = mean_average_precision(preds, truth, num_classes=3)
    coco_map, coco_map50 = _pycocotools_map(preds, truth, 3)
    assert ours["map"] == pytest.approx(coco_map, abs=1e-9)
    assert ours["map50"] == pytest.approx(coco_map50, abs=1e-9)
    assert 0.2 < ours["map50"] < 1.0  # a case with misses and false positives, not a trivial one


def test_encoding_then_decoding_gives_the_boxes_back():
    boxes = torch.tensor([[3.0, 5.0, 20.0, 30.0], [30.0, 28.0, 61.0, 60.0], [40.0, 2.0, 50.0, 13.0]])
    labels = torch.tensor([7, 2, 7])
    target = encode(boxes, labels, num_classes=10, image_size=(64, 64))
    assert target.shape == (15, 16, 16) and target[-1].sum() == 3
    (found,) = decode_targets(target[None])
    order = torch.argsort(found["boxes"][:, 0])
    assert torch.allclose(found["boxes"][order], boxes, atol=1e-5)
    assert found["labels"][order].tolist() == labels[torch.argsort(boxes[:, 0])].tolist()


def test_decoding_a_perfect_output_and_suppressing_a_planted_duplicate():
    boxes, labels = torch.tensor([[8.0, 8.0, 24.0, 28.0]]), torch.tensor([3])
    target = encode(boxes, labels, num_classes=5, image_size=(64, 64))
    logits = torch.logit(target[:5].clamp(1e-4, 1 - 1e-4))
    output = torch.cat([logits, target[5:9]])[None]
    (found,) = decode(output, k=5, threshold=0.5)
    assert torch.allclose(found["boxes"], boxes, atol=1e-4) and found["labels"].tolist() == [3]
    # a second, slightly weaker peak two cells away, predicting nearly the same box: NMS removes it
    output[0, 3, 6, 2] = 2.0
    output[0, 5:9, 6, 2] = torch.tensor([4.0, 5.0, 2.0, -1.5])  # centre (16, 18): the same box, shifted
    (both,) = decode(output, k=5, threshold=0.5)
    (kept,) = decode(output, k=5, threshold=0.5, nms=0.5)
    assert len(both["boxes"]) == 2 and len(kept["boxes"]) == 1 and kept["scores"][0] == both["scores"].max()


def test_centernet_trains_a_step_and_its_loss_refuses_mismatched_targets():
    net = CenterNet(num_classes=10, width=8)
    x = torch.rand(2, 1, 64, 64)
    target = torch.stack(
        [encode(torch.tensor([[4.0, 4.0, 30.0, 30.0]]), torch.tensor([1]), 10, (64, 64))] * 2
    )
    out = net(x)
    assert out.shape == (2, 14, 16, 16) and net.model_args["width"] == 8
    loss = centernet_loss(out, target)
    loss.backward()
    assert loss.item() > 0 and net.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="make them with encode"):
        centernet_loss(out, target[:, :-1])
    with pytest.raises(ValueError, match=r"labels must be one class in \[0, 10\)"):
        encode(torch.tensor([[1.0, 1.0, 5.0, 5.0]]), torch.tensor([10]), 10, (64, 64))
    assert decode(out.detach(), threshold=1.1)[0]["boxes"].shape == (0, 4)  # an empty image: no boxes


def test_scenes_dataset_splits_keep_their_digits_and_targets_give_the_boxes_back(digits):
    from course_utils.data import Dataset
    from course_utils.detection import scenes_dataset

    mnist = Dataset("stand-in", digits, digits.subset(range(8)), digits.subset(range(8, 16)), (0.1,), (0.3,),
                    [str(d) for d in range(10)])  # fmt: skip
    data = scenes_dataset(mnist, sizes=(20, 5, 6), seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 5, 6) and data.num_classes == 10
    assert data.train.y.shape == (20, 15, 16, 16) and data.train.x.dtype == torch.uint8
    again = make_scenes(digits.subset(range(8, 16)), 6, seed=2)  # the test split: its own seed and digits
    assert torch.equal(data.test.x, again.x)
    for found, boxes in zip(decode_targets(data.test.y), again.boxes, strict=True):
        order = torch.argsort(found["boxes"][:, 0] * 1000 + found["boxes"][:, 1])
        expected = boxes[torch.argsort(boxes[:, 0] * 1000 + boxes[:, 1])]
        assert torch.allclose(found["boxes"][order], expected, atol=1e-4)


def test_detection_f1_counts_matches_and_adds_up_over_batches():
    from course_utils.detection import DetectionF1

    target = torch.stack([encode(torch.tensor([[8.0, 8.0, 24.0, 28.0]]), torch.tensor([3]), 5, (64, 64))])
    perfect = torch.cat([torch.logit(target[:, :5].clamp(1e-4, 1 - 1e-4)), target[:, 5:9]], 1)
    assert [v.item() for v in DetectionF1()(perfect, target)] == [2.0, 2.0]  # F1 = 1
    wrong_class = perfect.clone()
    wrong_class[:, [3, 2]] = wrong_class[:, [2, 3]]
    assert [v.item() for v in DetectionF1()(wrong_class, target)] == [0.0, 2.0]  # one false, one missed


def test_a_negative_predicted_size_decodes_to_an_empty_box_not_an_inverted_one():
    output = torch.full((1, 6, 16, 16), -9.0)
    output[0, 0, 5, 5], output[0, 2:6, 5, 5] = 3.0, torch.tensor([-1.0, 2.0, 0.5, 0.5])
    (found,) = decode(output, threshold=0.5)
    ((x1, y1, x2, y2),) = found["boxes"].tolist()
    assert x2 == x1 == 22.0 and y2 - y1 == 8.0
    mean_average_precision([found], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}], num_classes=2)
