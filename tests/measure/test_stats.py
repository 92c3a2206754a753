import math
import statistics

import numpy as np
import pytest

from swinprof.measure.stats import (
    IMPROVEMENT,
    REGRESSION,
    UNCERTAIN,
    UNCHANGED,
    StatisticsError,
    _u_cdf,
    compare_samples,
    fewest_samples,
    normalise,
    percentile,
    rank_interval_index,
    ratio_interval,
    widest_confidence,
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


# ------------------------------------------------------------------------- the rank interval at small n


@pytest.mark.parametrize(("n", "m"), [(3, 4), (5, 5), (7, 6), (10, 10), (12, 9)])
def test_the_exact_mann_whitney_distribution_matches_scipy(n, m):
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(n * 100 + m)
    cdf = _u_cdf(n, m)
    for _ in range(20):
        x, y = rng.normal(size=n), rng.normal(size=m)
        u = int(sum(yj > xi for xi in x for yj in y))  # pairs with y above x
        p = mannwhitneyu(y, x, alternative="less", method="exact").pvalue  # P(U <= u)
        assert cdf[u] == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize(("n", "k"), [(4, 0), (5, 2), (10, 23), (20, 127)])
def test_the_critical_values_are_the_published_ones(n, k):
    # two-sided 5% critical values of U for n = m (the standard tables): reject when U <= k
    assert rank_interval_index(n, n) == k
    cdf = _u_cdf(n, n)
    assert 1 - 2 * cdf[k] >= 0.95 > 1 - 2 * cdf[k + 1]  # the narrowest interval that still covers 95%


def test_the_interval_covers_at_least_its_confidence():
    # n = m = 4: the normal approximation's k = 1 covered 94.3%; the exact k = 0 covers 97.1%. Checked by drawing.
    rng = np.random.default_rng(3)
    draws = (ratio_interval(rng.lognormal(0, 0.1, 4), 1.5 * rng.lognormal(0, 0.1, 4)) for _ in range(3000))
    covered = sum(lo <= 1.5 <= hi for _, lo, hi in draws)
    assert covered / 3000 > 0.955


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_95_percent_interval_from_three_or_fewer_samples_is_refused(n):
    assert widest_confidence(n, n) < 0.95 and fewest_samples(0.95) == 4
    with pytest.raises(StatisticsError, match=f"{n} vs {n} samples cannot give a 95% interval"):
        ratio_interval([1.0 + i for i in range(n)], [2.0 + i for i in range(n)])
    # regress --min-samples 1: no zero-width interval and no "unchanged", but "uncertain" with the reason
    d = compare_samples([5.0 + i / 10 for i in range(n)], [5.0 + i / 10 for i in range(n)], min_samples=1)
    assert d.verdict == UNCERTAIN and "too few samples for a 95% interval" in d.reason and math.isnan(d.ci_low)


def test_the_point_estimate_is_inside_its_interval_with_bimodal_samples():
    base = [100.0 + i / 100 for i in range(11)] + [200.0 + i / 100 for i in range(9)]
    new = [91.0 + i / 100 for i in range(9)] + [182.0 + i / 100 for i in range(11)]
    d = compare_samples(base, new, threshold=0.05, alpha=0.05)
    assert d.ci_low <= d.ratio <= d.ci_high and d.ratio == pytest.approx(0.91, abs=0.01)
    # the ratio of medians says 82% slower: with it as the point the verdict was "regression" beside an interval
    # that lies wholly below 1
    assert statistics.median(new) / statistics.median(base) > 1.8
    assert d.verdict == IMPROVEMENT and d.reason.startswith("faster by 9.0%")


def test_percentile_is_linear_interpolation():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile(range(101), 99) == 99.0
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(StatisticsError):
        percentile([], 50)
