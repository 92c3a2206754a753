"""Accuracy intervals and the paired test, against scipy / statsmodels, published worked examples and hand values."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from scipy.stats import binomtest

from swinprof.evaluate import significance
from swinprof.evaluate.significance import (
    PairedDrop,
    Rate,
    clopper_pearson,
    corrected_phi,
    mcnemar_exact,
    newcombe_paired,
    newcombe_unpaired,
    paired,
    wilson,
)
from swinprof.measure.stats import StatisticsError


def test_wilson_by_hand():
    # k=8, n=10, z=1.959964: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.7167; half = 0.2158 -> [0.4902, 0.9433]
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (20, 20), (523, 539), (7, 360), (180, 360)])
def test_wilson_and_clopper_pearson_match_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    exact = binomtest(k, n).proportion_ci(0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((exact.low, exact.high), abs=1e-7)


def _mcnemar_by_the_sum(lost: int, gained: int) -> float:
    """The term-by-term tail (what the closed form replaces), in exact rational arithmetic."""
    m = lost + gained
    tail = Fraction(sum(math.comb(m, i) for i in range(min(lost, gained) + 1)), 2**m)
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize(("lost", "gained"), [(1, 4), (0, 7), (10, 2), (25, 40), (3, 3), (0, 1), (180, 260),
                                              (990, 1010), (1200, 1450), (0, 60)])  # fmt: skip
def test_mcnemar_closed_form_equals_the_sum_and_scipy(lost, gained):
    p = mcnemar_exact(lost, gained)
    assert p == pytest.approx(_mcnemar_by_the_sum(lost, gained), abs=1e-12, rel=1e-9)
    assert p == pytest.approx(binomtest(lost, lost + gained).pvalue, abs=1e-12, rel=1e-9)


def test_mcnemar_by_hand_and_at_imagenet_scale():
    assert mcnemar_exact(1, 4) == pytest.approx(0.375)  # 2 * (C(5,0) + C(5,1)) / 32 = 12/32
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0  # no discordant pairs; capped at 1
    # a million discordant images (the term-by-term sum took days): the continuity-corrected normal
    # approximation is close there, z = (|500,000 - 1,001,000 / 2| - 0.5) / sqrt(1,001,000 / 4)
    z = (abs(500_000 - 1_001_000 / 2) - 0.5) / math.sqrt(1_001_000 / 4)
    assert mcnemar_exact(500_000, 501_000) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-3)
    with pytest.raises(StatisticsError):
        mcnemar_exact(-1, 3)


def test_mcnemar_matches_statsmodels():
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    for table in ([[59, 6], [16, 80]], [[14, 5], [0, 22]], [[480, 30], [2, 27]]):
        expected = contingency.mcnemar(table, exact=True).pvalue
        assert mcnemar_exact(table[0][1], table[1][0]) == pytest.approx(expected, abs=1e-12, rel=1e-9)


def test_mcnemar_is_computed_once_per_comparison(monkeypatch):
    calls = []
    real = significance.mcnemar_exact
    monkeypatch.setattr(significance, "mcnemar_exact", lambda lost, gained: calls.append(1) or real(lost, gained))
    d = PairedDrop(n=539, both=480, lost=30, gained=2)
    str(d), d.significant, d.p_value, d.interval, str(d)
    assert len(calls) == 1


@pytest.mark.parametrize(("table", "expected"), [
    # Altman et al., "Statistics with Confidence" (2nd ed.), the paired worked example of Newcombe's method
    ((14, 5, 0, 22), (0.0115, 0.2265)),
    # Fagerland, Lydersen & Laake, contingencytables (chapter 8 tests): Cavo et al. 2012, estimate -0.0621
    ((59, 6, 16, 80), (-0.1186, -0.0046)),
])  # fmt: skip
def test_newcombe_paired_matches_published_worked_examples(table, expected):
    assert newcombe_paired(*table) == pytest.approx(expected, abs=5e-5)


def test_newcombe_paired_by_hand_with_the_corrected_phi():
    # both 12, lost 9, gained 2, neither 21 (n=44): AD - BC = 252 - 18 = 234 > N/2 = 22 -> numerator 212;
    # phi = 212 / sqrt(21*23*14*30) = 212 / 450.40 = 0.47069 (the plain phi would be 0.51954);
    # Wilson(21/44) = [0.33755, 0.62065], Wilson(14/44) = [0.19999, 0.46557], d = 0.15909;
    # low = d - sqrt(0.13972^2 - 2*0.47069*0.13972*0.14739 + 0.14739^2) = 0.15909 - 0.14785 = 0.01124
    assert corrected_phi(12, 9, 2, 21) == pytest.approx(212 / math.sqrt(21 * 23 * 14 * 30))
    assert newcombe_paired(12, 9, 2, 21)[0] == pytest.approx(0.01124, abs=2e-4)
    assert corrected_phi(2, 1, 1, 2) == 0.0  # AD - BC = 3 lies within [0, N/2 = 3]: phi is 0
    assert corrected_phi(1, 3, 3, 1) == pytest.approx(-8 / 16)  # negative AD - BC is kept as it is


@pytest.mark.parametrize("table", [(5, 0, 0, 5), (9, 0, 0, 1), (10, 0, 0, 0), (0, 0, 0, 10), (350, 0, 0, 10)])
def test_no_discordant_pairs_never_give_a_zero_width_interval(table):
    low, high = newcombe_paired(*table)
    assert low < 0 < high
    n = sum(table)
    d = PairedDrop(n, table[0], 0, 0)
    assert d.drop == 0 and d.p_value == 1.0 and not d.significant
    if table == (5, 0, 0, 5):  # 10 vs 10 images, half right in both: about +-17 pt, not [0, 0]
        assert (low, high) == pytest.approx((-0.1666, 0.1666), abs=1e-3)


def test_paired_counts_and_rendering():
    base = [True] * 340 + [False] * 20
    new = [True] * 337 + [False] * 3 + [False] * 20  # 3 lost, none gained: not significant at n=360
    d = paired(base, new)
    assert (d.n, d.both, d.lost, d.gained) == (360, 337, 3, 0)
    assert d.drop == pytest.approx(100 * 3 / 360)
    assert d.p_value == pytest.approx(0.25)
    text = str(d)
    assert text.startswith("drop 0.8 pt [") and text.endswith("p=0.25, not significant at n=360")
    assert str(Rate(340, 360)).startswith("94.4% [")


def test_a_large_drop_is_significant():
    d = PairedDrop(n=539, both=480, lost=30, gained=2)
    assert d.significant and d.p_value < 1e-6
    low, high = d.interval
    assert 0 < low < d.drop < high


@pytest.mark.parametrize(("args", "expected"), [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
    ((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)), ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)), ((10, 10, 0, 20), (0.6791, 1.0)),
])  # fmt: skip
def test_newcombe_unpaired_matches_the_published_examples(args, expected):
    assert newcombe_unpaired(*args) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize("call", [
    lambda: clopper_pearson(0, 0), lambda: wilson(3, 0), lambda: Rate(0, 0), lambda: Rate(5, 4),
    lambda: newcombe_unpaired(0, 0, 1, 2), lambda: newcombe_unpaired(1, 2, 0, 0), lambda: PairedDrop(0, 0, 0, 0),
    lambda: PairedDrop(3, 2, 2, 0), lambda: newcombe_paired(0, 0, 0, 0), lambda: paired([], []),
    lambda: paired([True], [True, False]),
])  # fmt: skip
def test_questions_without_data_are_clear_errors_not_nan(call):
    with pytest.raises(StatisticsError, match=r"n > 0|non-empty|hits <= n|at most n"):
        call()
