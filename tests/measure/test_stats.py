import math

import numpy as np
import pytest

from swinprof.measure.stats import (
    IMPROVEMENT,
    REGRESSION,
    UNCERTAIN,
    UNCHANGED,
    compare_samples,
    normalise,
    ratio_interval,
)


def lognormal(seed, median, sigma, n):
    rng = np.random.default_rng(seed)
    return list(median * np.exp(rng.normal(0, sigma, n)))


@pytest.mark.parametrize("seed", range(10))
def test_identical_distributions_are_unchanged(seed):
    d = compare_samples(lognormal(seed, 5.0, 0.02, 40), lognormal(seed + 100, 5.0, 0.02, 40))
    assert d.verdict == UNCHANGED, d.reason
    assert d.ci_low <= 1.0 <= d.ci_high or abs(d.ratio - 1) < 0.02


@pytest.mark.parametrize("seed", range(5))
def test_twenty_percent_slower_with_low_noise_is_a_regression(seed):
    d = compare_samples(lognormal(seed, 5.0, 0.03, 30), lognormal(seed + 50, 6.0, 0.03, 30))
    assert d.verdict == REGRESSION
    assert d.ratio == pytest.approx(1.2, rel=0.03)
    assert d.ci_low < 1.2 < d.ci_high
    assert d.p_value < 1e-6


def test_twenty_percent_faster_is_an_improvement():
    d = compare_samples(lognormal(1, 5.0, 0.03, 30), lognormal(2, 4.0, 0.03, 30))
    assert d.verdict == IMPROVEMENT
    assert d.ratio == pytest.approx(0.8, rel=0.03)


def test_significant_but_below_threshold_is_unchanged():
    d = compare_samples(lognormal(3, 5.0, 0.005, 60), lognormal(4, 5.1, 0.005, 60), threshold=0.05)
    assert d.p_value < 0.01  # the 2% shift is real and detected ...
    assert d.verdict == UNCHANGED  # ... but smaller than the threshold
    assert "small" in d.reason


def test_huge_noise_is_uncertain_not_a_guess():
    d = compare_samples(lognormal(5, 5.0, 0.6, 15), lognormal(6, 5.5, 0.6, 15))
    assert d.verdict == UNCERTAIN
    assert "noisy" in d.reason


def test_too_few_samples_is_uncertain():
    d = compare_samples([5.0, 5.1, 4.9], [6.0, 6.1, 5.9], min_samples=10)
    assert d.verdict == UNCERTAIN
    assert "too few" in d.reason
    assert math.isnan(d.p_value)


def test_ratio_interval_matches_a_brute_force_hodges_lehmann():
    base, new = lognormal(7, 3.0, 0.1, 25), lognormal(8, 3.3, 0.1, 30)
    est, lo, hi = ratio_interval(base, new)
    pairwise = sorted(math.log(y) - math.log(x) for x in base for y in new)
    n = len(pairwise)
    median = (pairwise[n // 2 - 1] + pairwise[n // 2]) / 2 if n % 2 == 0 else pairwise[n // 2]
    assert est == pytest.approx(math.exp(median))
    assert lo < est < hi
    assert lo < 1.1 < hi  # the true ratio


def test_ratio_interval_of_an_exact_scaling_is_that_scale():
    base = [float(v) for v in range(10, 50)]
    est, lo, hi = ratio_interval(base, [1.25 * v for v in base])
    assert est == pytest.approx(1.25)
    assert lo < 1.25 < hi


def test_normalise_modes():
    s, c = [4.0, 6.0], [2.0, 3.0]
    assert normalise(s, c, "round") == [2.0, 2.0]
    assert normalise(s, c, "run") == [4.0 / 2.5, 6.0 / 2.5]
    assert normalise(s, c, "none") == s
    with pytest.raises(ValueError):
        normalise(s, [1.0], "round")


def test_zero_samples_are_uncertain():
    d = compare_samples([0.0] * 20, [1.0] * 20)
    assert d.verdict == UNCERTAIN and "0 ms" in d.reason
