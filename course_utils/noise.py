"""One rule for "is A really better than B?", the same in every lesson.

Training twice with different seeds gives two different scores: each run's score carries noise of
some spread ``s`` (the standard deviation over seeds). A *difference* of two independent runs carries
the noise of both, so its spread is about ``sqrt(2) * s``, not ``s``; a difference of two means over
``n`` seeds each has spread ``sqrt(2 / n) * s``. :func:`compare` computes that spread and calls a
difference real only when it is at least ``Z`` times its own spread (``Z = 2``: about 95 % of pure
noise differences stay inside it). The printed line rounds to the first significant digit of that
spread: the digits after it are noise::

    >>> c = compare([0.652, 0.661, 0.647], [0.684, 0.690, 0.679], names=("SGD", "Adam"), scale=100)
    >>> print(c)
    Adam - SGD = +3.1 ± 0.5 points (3 runs each; one run's spread 0.6) -> Adam is better

With one run per setting the spread cannot be measured from the runs themselves: pass one run's
spread measured elsewhere as ``run_sd`` (for example from seeds of a similar run), or the verdict is
"noise unknown".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Z", "Comparison", "compare", "compare_images", "run_spread"]

Z = 2.0  # a difference is real when it is at least Z times its own spread


def run_spread(*groups: Sequence[float]) -> float:
    """One run's spread (standard deviation), pooled over the groups of runs given.

    Each group holds the results of one setting over seeds; the spread is measured around each
    group's own mean, so a real difference between settings does not inflate it. NaN when no group
    has two runs.
    """
    squares, dof = 0.0, 0
    for group in groups:
        values = [float(v) for v in group]
        if len(values) >= 2:
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else math.nan


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: means, spreads, the difference ``b - a`` and the verdict.

    ``run_sd`` is one run's spread, ``diff_sd`` the spread of the difference of the two means
    (``run_sd * sqrt(1/n_a + 1/n_b)``, which is ``sqrt(2) * run_sd`` for one run each). Values are in
    the units given, times ``scale`` (``scale=100`` turns accuracies into percentage points).
    """

    names: tuple[str, str]
    a: tuple[float, ...]
    b: tuple[float, ...]
    mean_a: float
    mean_b: float
    run_sd: float
    diff: float
    diff_sd: float
    verdict: str
    unit: str = ""
    kind: str = "runs"  # what a and b hold: per-seed "runs", or per-image scores ("images")
    paired: bool = False  # images only: a[i] and b[i] score the same image

    @property
    def real(self) -> bool:
        """Whether the difference is at least ``Z`` times its spread (False when the noise is unknown)."""
        return bool(self.diff_sd == self.diff_sd and abs(self.diff) >= Z * self.diff_sd)

    @property
    def digits(self) -> int:
        """Decimals worth printing: down to the first significant digit of the difference's spread
        (+34.45 ± 1.93 is shown as +34 ± 2: the digits after it are noise), one more where the rounded
        numbers would seem to contradict the verdict; 2 when the spread is unknown."""
        if not self.diff_sd > 0:
            return 2
        digits = max(0, 1 - math.ceil(math.log10(self.diff_sd)))
        # one more digit while the rounded numbers would seem to contradict the verdict (-4 ± 2 looks like
        # exactly Z spreads, though 4.49 is less than 2 x 2.48)
        while digits < 3 and (abs(round(self.diff, digits)) >= Z * round(self.diff_sd, digits)) != self.real:
            digits += 1
        return digits

    def __str__(self) -> str:
        na, nb = len(self.a), len(self.b)
        if self.kind == "images":
            groups = f"{self.names[0]}: {na} images, {self.names[1]}: {nb}"
            what = f"paired over {na} images" if self.paired else groups
            one = "one image's"
        else:
            what = f"{na} runs each" if na == nb else f"{na} and {nb} runs"
            what = "1 run each" if na == nb == 1 else what
            one = "one run's"
        unit = f" {self.unit}" if self.unit else ""
        d = self.digits
        return (
            f"{self.names[1]} - {self.names[0]} = {self.diff:+.{d}f} ± {self.diff_sd:.{d}f}{unit} "
            f"({what}; {one} spread {self.run_sd:.{d}f}) -> {self.verdict}"
        )


def _as_runs(name: str, values) -> tuple[float, ...]:
    if isinstance(values, (int, float)):
        values = [values]
    runs = tuple(float(v) for v in values)
    if not runs or any(v != v for v in runs):
        raise ValueError(
            f"compare: {name} must be one number or a list of per-seed results (no NaN), got {values!r}"
        )
    return runs


def compare(
    a,
    b,
    *,
    names: tuple[str, str] = ("A", "B"),
    run_sd: float | None = None,
    scale: float = 1.0,
    higher_is_better: bool = True,
    unit: str | None = None,
) -> Comparison:
    """Compare per-seed results ``a`` and ``b`` of two settings by the course's one noise rule.

    ``a``, ``b``: one number or a list of results (one per seed). ``run_sd``: one run's spread, in the
    units of ``a`` and ``b``; by default measured from the runs (pooled, see :func:`run_spread`); NaN
    (unmeasured) gives the verdict "noise unknown".
    ``scale`` multiplies every value for display (100 for fractions shown as points); ``unit``
    defaults to "points" when ``scale`` is 100. ``higher_is_better`` names the winner (False for a
    loss or an error rate).
    """
    runs_a, runs_b = _as_runs("a", a), _as_runs("b", b)
    if len(names) != 2:
        raise ValueError(f"compare: names must be two labels (for a and b), got {names!r}")
    if run_sd is None:
        run_sd = run_spread(runs_a, runs_b)
    elif run_sd < 0:  # NaN passes: a spread that could not be measured (the verdict says so)
        raise ValueError(f"compare: run_sd must be a spread >= 0, got {run_sd!r}; leave it out to measure it")
    na, nb = len(runs_a), len(runs_b)
    diff_sd = run_sd * math.sqrt(1 / na + 1 / nb)
    unknown = "noise unknown: run each setting with two seeds or more, or pass run_sd"
    return _judged(names, runs_a, runs_b, run_sd, diff_sd, scale, higher_is_better, unit, unknown)


def _judged(names, a, b, one_sd, diff_sd, scale, higher_is_better, unit, unknown, kind="runs", paired=False):
    """The :class:`Comparison` of results ``a`` and ``b`` (sequences), given one result's spread and the
    spread of the difference of their means: the verdict by the rule, every value times ``scale``."""
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    diff = mean_b - mean_a
    if diff_sd != diff_sd:
        verdict = unknown
    elif abs(diff) >= Z * diff_sd:
        verdict = f"{names[1] if (diff > 0) == higher_is_better else names[0]} is better"
    else:
        verdict = "within noise"
    s = float(scale)
    return Comparison(
        names=tuple(names),
        a=tuple(v * s for v in a),
        b=tuple(v * s for v in b),
        mean_a=mean_a * s,
        mean_b=mean_b * s,
        run_sd=one_sd * s,
        diff=diff * s,
        diff_sd=diff_sd * s,
        verdict=verdict,
        unit=("points" if scale == 100 else "") if unit is None else unit,
        kind=kind,
        paired=paired,
    )


def _scores(name: str, values) -> list[float]:
    """Per-image scores as floats (bool hits count 1 or 0); anything but one value per image is an error."""
    values = values.detach().cpu().tolist() if hasattr(values, "detach") else list(values)
    if any(isinstance(v, list | tuple) for v in values):
        raise ValueError(
            f"compare_images: {name} must be one score per image, a vector (N,), got nested values. Pass "
            "e.g. explain.mass_inside(maps, masks) or explain.pointing_hits(maps, masks)."
        )
    return [float(v) for v in values]


def compare_images(
    a,
    b,
    *,
    names: tuple[str, str] = ("A", "B"),
    paired: bool = True,
    scale: float = 100.0,
    higher_is_better: bool = True,
) -> Comparison:
    """Compare two settings' per-image scores ``a`` and ``b`` (N,) by the same rule as :func:`compare`:
    the difference ``b - a`` of their means is real when it is at least ``Z`` times its own spread.

    The noise here is which images were drawn, not which training run made the model: the spread is
    measured over the images, for the models as they are.

    - ``paired=True`` (default): ``a[i]`` and ``b[i]`` score the same image ``i`` (two maps of one
      image, or two models on one image); the spread of the mean difference is the per-image
      differences' standard deviation over ``sqrt(n)``. Images where either score is NaN (an
      all-zero map's mass) are left out, and the printed line says how many remain.
    - ``paired=False``: two groups of different images (e.g. right and wrong predictions); their
      spreads are pooled, as :func:`compare` pools runs. NaN scores are left out.

    Scores are fractions or bools (hits count 1); ``scale=100`` shows them as points.
    """
    if len(names) != 2:
        raise ValueError(f"compare_images: names must be two labels (for a and b), got {names!r}")
    a, b = _scores("a", a), _scores("b", b)
    if paired:
        if len(a) != len(b):
            raise ValueError(
                f"compare_images: paired scores need one pair per image, but a has {len(a)} and b "
                f"{len(b)}. Score the same images in both, or pass paired=False for two groups."
            )
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if x == x and y == y]
        a, b = [x for x, _ in pairs], [y for _, y in pairs]
        image_sd = run_spread([y - x for x, y in pairs])
        diff_sd = image_sd / math.sqrt(len(pairs)) if pairs else math.nan
    else:
        a, b = [x for x in a if x == x], [y for y in b if y == y]
        image_sd = run_spread(a, b)
        diff_sd = image_sd * math.sqrt(1 / len(a) + 1 / len(b)) if a and b else math.nan
    if not (a and b):
        raise ValueError("compare_images: no image has a score (all NaN or empty); nothing to compare.")
    unknown = "noise unknown: score two images or more"
    return _judged(names, a, b, image_sd, diff_sd, scale, higher_is_better, None, unknown, "images", paired)
