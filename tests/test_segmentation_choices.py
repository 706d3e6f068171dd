"""Lesson 06's measurements and choices: IoU and Dice as defined, the BCE + Dice loss, and a lesson that
chooses its prediction protocol on validation before it looks at the test split. Fast, no data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.data import IGNORE_INDEX

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "06_unet_pets.ipynb"
SOLUTIONS = ROOT / "notebooks" / "solutions" / "06_solutions.ipynb"


def _masks(seed: int, n: int = 3, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits (n, 1, size, size) and targets (n, size, size) holding 0, 1 and ignored pixels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1, size, size, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 2, (n, size, size), generator=g)
    targets[torch.rand(n, size, size, generator=g) < 0.15] = IGNORE_INDEX
    return logits, targets


def _pooled(metric, batches) -> float:
    num = den = 0
    for logits, targets in batches:
        n, d = metric(logits, targets)
        num, den = num + int(n), den + int(d)
    return num / den


def test_the_worked_example_of_lesson_06():
    """|P and T| = 3, |P| = |T| = 4 (an ignored pixel predicted pet does not count): IoU 3/5, Dice 6/8."""
    truth = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 255, 255, 0]])
    logits = torch.tensor([[-2.0, -2, -2, -2], [-2, 3, 3, 3], [-2, 3, -2, -2], [-2, 3, -2, -2]])
    assert [int(v) for v in cu.metrics.BinaryIoU()(logits[None], truth[None])] == [3, 5]
    assert [int(v) for v in cu.metrics.BinaryDice()(logits[None], truth[None])] == [6, 8]


def test_pooled_dice_is_a_function_of_pooled_iou():
    """Over batches of different sizes, pooled Dice = 2 IoU / (1 + IoU) exactly: one measurement, not two.
    A mean of per-image Dice does not follow the pooled IoU that way."""
    batches = [_masks(seed, n) for seed, n in ((0, 3), (1, 1), (2, 5))]
    iou = _pooled(cu.metrics.BinaryIoU(), batches)
    dice = _pooled(cu.metrics.BinaryDice(), batches)
    assert dice == pytest.approx(2 * iou / (1 + iou), abs=1e-12)
    per_image = [
        _pooled(cu.metrics.BinaryDice(), [(logits[i : i + 1], targets[i : i + 1])])
        for logits, targets in batches
        for i in range(len(logits))
    ]
    assert sum(per_image) / len(per_image) != pytest.approx(dice, abs=1e-9)


def test_plain_bce_is_the_masked_mean_bce():
    logits, targets = _masks(3)
    valid = targets != IGNORE_INDEX
    expected = F.binary_cross_entropy_with_logits(logits[:, 0][valid], (targets[valid] == 1).double())
    loss = cu.losses.BCEDiceLoss(dice_weight=0)(logits, targets)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_the_dice_term_is_one_minus_the_batch_soft_dice():
    logits, targets = _masks(4)
    valid = (targets != IGNORE_INDEX).double()
    p, t = torch.sigmoid(logits[:, 0]) * valid, (targets == 1).double()
    soft_dice = (2 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0)
    both = cu.losses.BCEDiceLoss()(logits, targets) - cu.losses.BCEDiceLoss(dice_weight=0)(logits, targets)
    assert float(both) == pytest.approx(float(1 - soft_dice), rel=1e-5)


def test_ignored_pixels_change_neither_the_loss_nor_its_gradient():
    logits, targets = _masks(5)
    ignored = (targets == IGNORE_INDEX)[:, None]
    other = torch.where(ignored, logits + 10, logits).requires_grad_()
    logits.requires_grad_()
    loss = cu.losses.BCEDiceLoss()(logits, targets)
    assert loss.item() == pytest.approx(cu.losses.BCEDiceLoss()(other, targets).item(), rel=1e-6)
    loss.backward()
    assert logits.grad[ignored].abs().max() == 0


@pytest.mark.parametrize(("kwargs", "words"), [({"dice_weight": -1}, "dice_weight"), ({"eps": 0}, "eps")])
def test_bad_loss_settings_name_the_argument(kwargs, words):
    with pytest.raises(ValueError, match=words):
        cu.losses.BCEDiceLoss(**kwargs)


def test_the_recipe_losses_are_bce_dice_and_plain_bce():
    recipe = cu.RECIPES["unet_pets"]
    assert recipe.loss == "bce_dice" and recipe.make_criterion().dice_weight == 1
    assert recipe.replace(loss="bce").make_criterion().dice_weight == 0


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_lesson_06_chooses_the_protocol_on_validation_before_the_test_split():
    """TTA is decided by cu.compare on validation (USE_TTA) before any code touches the test loaders; the
    test split is then only evaluated through ``predictor``, in the chosen protocol, and every
    self-check names that protocol."""
    code = _code_cells(LESSON)
    decided = next(i for i, c in enumerate(code) if re.search(r"^USE_TTA = .*\.real", c, re.M))
    assert "cu.compare(" in code[decided] and 'loaders["val"]' in code[decided]
    touches_test = [i for i, c in enumerate(code) if 'loaders["test"]' in c or "test_report(" in c]
    assert touches_test and min(touches_test) > decided
    for c in code[decided + 1 :]:
        assert "FlipTTA" not in c or "def predictor" in c, "the test split is seen in the chosen protocol"
    checked = [line for c in code for line in c.splitlines() if "test pet IoU, " in line]
    assert len(checked) >= 3 and all("{protocol}" in line for line in checked)


def test_lesson_06_tables_do_not_report_dice_beside_iou():
    """test_report prints IoU and pixel accuracy; Dice appears once, as 2 IoU / (1 + IoU)."""
    code = "\n".join(_code_cells(LESSON))
    report = code[code.index("def test_report") : code.index("return values", code.index("def test_report"))]
    assert "['dice']" not in report and "Dice {" not in report
    assert "2 * iou / (1 + iou)" in code


def test_solutions_06_describe_their_runs_from_the_recipe():
    """Run sizes come from the recipe and profile printed by code, never typed into the prose."""
    cells = json.loads(SOLUTIONS.read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert not re.search(r"\d+ epochs|base_channels=\d", prose)
    assert re.search(r"EPOCHS = max\(1, recipe\.epochs // \d\)", "\n".join(_code_cells(SOLUTIONS)))
    assert "cu.compare(" in "\n".join(_code_cells(SOLUTIONS))
