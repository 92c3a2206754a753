"""Accuracy intervals and the paired test, against hand-computed values and scipy as an independent check."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from swinprof.evaluate.significance import (
    PairedDrop,
    Rate,
    clopper_pearson,
    mcnemar_exact,
    newcombe_paired,
    paired,
    wilson,
)


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


def test_mcnemar_by_hand_and_against_scipy():
    # 1 lost, 4 gained of 5 discordant: 2 * (C(5,0) + C(5,1)) / 32 = 12/32
    assert mcnemar_exact(1, 4) == pytest.approx(0.375)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0  # capped
    for lost, gained in [(10, 2), (0, 7), (25, 40)]:
        assert mcnemar_exact(lost, gained) == pytest.approx(binomtest(lost, lost + gained).pvalue, rel=1e-9)


def test_newcombe_paired_by_hand():
    # both 12, lost 9, gained 2, neither 21 (n=44): p_base 21/44 = 0.47727, p_new 14/44 = 0.31818, d = 0.15909.
    # Wilson(21/44) = [0.33755, 0.62065], Wilson(14/44) = [0.19999, 0.46557];
    # phi = (12*21 - 9*2) / sqrt(21*23*14*30) = 234 / 450.40 = 0.51954;
    # low = d - sqrt(0.13972^2 - 2*0.51954*0.13972*0.14739 + 0.14739^2) = 0.15909 - 0.14088 = 0.01821;
    # high = d + sqrt(0.14338^2 - 2*0.51954*0.14338*0.11819 + 0.11819^2) = 0.15909 + 0.13007 = 0.28916
    low, high = newcombe_paired(12, 9, 2, 21)
    assert low == pytest.approx(0.01821, abs=2e-4)
    assert high == pytest.approx(0.28916, abs=2e-4)


def test_no_discordant_pairs_is_no_drop_with_a_small_interval():
    d = PairedDrop(n=360, both=350, lost=0, gained=0)
    assert d.drop == 0 and d.p_value == 1.0 and not d.significant
    low, high = d.interval
    assert low <= 0 <= high and high - low < 2


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


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        wilson(3, 0)
    with pytest.raises(ValueError):
        paired([True], [True, False])
    assert math.isfinite(newcombe_paired(0, 0, 0, 5)[0])
