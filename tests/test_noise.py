"""The one noise rule (course_utils.noise.compare): the spread of a difference, and the verdicts."""

import math

import pytest

import course_utils as cu
from course_utils.noise import Z, compare, run_spread


def test_one_run_each_gives_a_difference_sqrt2_times_one_runs_spread():
    c = compare(0.80, 0.83, run_sd=0.01)
    assert c.diff == pytest.approx(0.03) and c.diff_sd == pytest.approx(0.01 * math.sqrt(2))
    assert c.real and c.verdict == "B is better"


def test_means_of_n_seeds_shrink_the_spread_by_sqrt_n():
    a, b = [0.70, 0.72, 0.71], [0.73, 0.75, 0.74]  # one run's spread 0.01 in each
    c = compare(a, b, names=("SGD", "Adam"))
    assert c.run_sd == pytest.approx(0.01)
    assert c.diff_sd == pytest.approx(0.01 * math.sqrt(2 / 3))
    assert c.verdict == "Adam is better"


def test_a_difference_under_twice_its_spread_is_within_noise():
    c = compare([0.70, 0.72], [0.71, 0.73])  # difference 0.01, spread of the difference ~0.014
    assert abs(c.diff) < Z * c.diff_sd and not c.real and c.verdict == "within noise"


def test_the_spread_is_pooled_around_each_settings_own_mean():
    # a large real difference between settings must not inflate the noise
    assert run_spread([1.0, 1.2], [5.0, 5.2]) == pytest.approx(math.sqrt(0.02))
    assert math.isnan(run_spread([1.0], [2.0]))


def test_one_run_each_without_a_measured_spread_says_the_noise_is_unknown():
    c = compare(0.5, 0.9)
    assert not c.real and c.verdict.startswith("noise unknown")
    assert compare(0.5, 0.9, run_sd=float("nan")).verdict.startswith("noise unknown")


def test_lower_is_better_names_the_right_winner_and_scale_gives_points():
    c = compare([2.0, 2.1, 2.05], [1.0, 1.1, 1.05], names=("old", "new"), higher_is_better=False)
    assert c.verdict == "new is better"
    p = compare([0.5, 0.6], [0.7, 0.8], scale=100)
    assert p.diff == pytest.approx(20.0) and p.unit == "points" and "points" in str(p)


def test_the_printed_line_carries_difference_spread_runs_and_verdict():
    line = str(cu.compare([0.652, 0.661, 0.647], [0.684, 0.690, 0.679], names=("SGD", "Adam"), scale=100))
    assert line == ("Adam - SGD = +3.1 ± 0.5 points (3 runs each; one run's spread 0.6) -> Adam is better")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(a=[], b=[1.0]), "a must be"),
        (dict(a=[1.0], b=[float("nan")]), "b must be"),
        (dict(a=1.0, b=2.0, run_sd=-1.0), "run_sd must be"),
        (dict(a=1.0, b=2.0, names=("only one",)), "names must be"),
    ],
)
def test_bad_input_names_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        compare(**kwargs)


def test_the_printed_line_keeps_the_digits_the_noise_allows():
    assert "+34 ± 2 points" in str(compare([0.10, 0.12, 0.14], [0.44, 0.46, 0.49], scale=100))
    assert "+10.00 ± 0.07" in str(compare(0.5, 0.6, run_sd=0.0005, scale=100))
    assert "± nan" in str(compare(0.5, 0.6)) and compare(0.5, 0.6).digits == 2


def test_rounding_never_makes_the_numbers_contradict_the_verdict():
    c = compare([0.9670, 0.9638, 0.9632], [0.9442, 0.8702, 0.9448], scale=100)  # -4.49 ± 2.48
    assert c.verdict == "within noise" and "-4.5 ± 2.5" in str(c)
