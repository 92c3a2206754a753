"""Accuracy with its uncertainty: intervals for a top-k rate, and a paired test of a recipe against fp32.

- A rate (top-1 of n images) gets the Wilson score interval (Wilson 1927): good coverage down to small n and
  near 0 or 100%, unlike the normal-approximation interval; `clopper_pearson` (exact, conservative) is here too.
- Two models on the SAME images are compared pairwise. Only the discordant images carry information: `lost`
  (fp32 right, recipe wrong) and `gained` (fp32 wrong, recipe right). McNemar's exact test asks whether
  lost ~ Binomial(lost + gained, 1/2) (two-sided, doubled smaller tail, capped at 1), evaluated in closed form
  from the binomial CDF (the regularized incomplete beta function), so a million discordant images cost what ten
  do. The interval for the accuracy difference is Newcombe's hybrid score interval for paired proportions
  (Newcombe 1998, method 10, as in Altman et al., "Statistics with Confidence", 2nd ed., and Fagerland, Lydersen &
  Laake's `contingencytables`): the Wilson intervals of both rates combined with the phi correlation of the pairs,
  whose numerator AD - BC is lowered by N/2 when it exceeds N/2 and set to 0 when it lies in [0, N/2].

Everything is computed from counts, so a results file that stores per-image correctness or only the four
counts gives the same numbers. A question the data cannot answer (no images) is a `StatisticsError`, never a
NaN or a ZeroDivisionError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from swinprof.measure.stats import StatisticsError

CONFIDENCE = 0.95
ALPHA = 0.05


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _check_rate(k: int, n: int) -> None:
    if n <= 0 or not 0 <= k <= n:
        raise StatisticsError(f"a rate needs 0 <= hits <= n and n > 0 images, got {k} of {n}")


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of the rate k/n, as fractions in [0, 1]."""
    _check_rate(k, n)
    z, p = _z(confidence), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of k/n from beta quantiles; wider than Wilson, never under-covers."""
    from scipy.stats import beta

    _check_rate(k, n)
    a = 1 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided exact McNemar p-value: 2 * P(X <= min(lost, gained)), X ~ Binomial(lost + gained, 1/2), <= 1.

    The tail is the binomial CDF (scipy's, from the incomplete beta function): constant time in the number of
    discordant images, equal to the term-by-term sum to ~1e-15."""
    if lost < 0 or gained < 0:
        raise StatisticsError(f"discordant counts must be >= 0, got lost={lost}, gained={gained}")
    m = lost + gained
    if m == 0:
        return 1.0
    from scipy.stats import binom

    return min(1.0, 2.0 * float(binom.cdf(min(lost, gained), m, 0.5)))


@dataclass(frozen=True)
class Rate:
    """k hits of n images (top-1 or top-5), with its Wilson interval."""

    hits: int
    n: int
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        _check_rate(self.hits, self.n)

    @property
    def percent(self) -> float:
        return 100 * self.hits / self.n

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson interval in percent."""
        low, high = wilson(self.hits, self.n, self.confidence)
        return 100 * low, 100 * high

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.percent:.1f}% [{low:.1f}, {high:.1f}]"


@dataclass(frozen=True)
class PairedDrop:
    """fp32 (base) against a recipe (new) on the same n images. `drop` = base accuracy - new accuracy, in
    percentage points (positive: the recipe lost accuracy); `interval` is Newcombe's, in points. The p-value and
    the interval are computed once, on first use."""

    n: int
    both: int  # right in both
    lost: int  # base right, new wrong
    gained: int  # base wrong, new right
    confidence: float = CONFIDENCE
    alpha: float = ALPHA

    def __post_init__(self) -> None:
        if self.n <= 0 or min(self.both, self.lost, self.gained) < 0 or self.both + self.lost + self.gained > self.n:
            raise StatisticsError(f"a paired table needs n > 0 images and non-negative counts summing to at most "
                                  f"n, got n={self.n}, both={self.both}, lost={self.lost}, gained={self.gained}")

    @property
    def base(self) -> Rate:
        return Rate(self.both + self.lost, self.n, self.confidence)

    @property
    def new(self) -> Rate:
        return Rate(self.both + self.gained, self.n, self.confidence)

    @property
    def drop(self) -> float:
        return 100 * (self.lost - self.gained) / self.n

    @cached_property
    def p_value(self) -> float:
        return mcnemar_exact(self.lost, self.gained)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @cached_property
    def interval(self) -> tuple[float, float]:
        low, high = newcombe_paired(self.both, self.lost, self.gained, self.n - self.both - self.lost - self.gained,
                                    self.confidence)  # fmt: skip
        return 100 * low, 100 * high

    def __str__(self) -> str:
        low, high = self.interval
        verdict = "significant" if self.significant else "not significant"
        return (f"drop {self.drop:.1f} pt [{low:.1f}, {high:.1f}], p={self.p_value:.2g}, {verdict} at "
                f"n={self.n}")  # fmt: skip


def corrected_phi(both: int, lost: int, gained: int, neither: int) -> float:
    """Newcombe's phi for method 10: (AD - BC) lowered by N/2 when above N/2, 0 when within [0, N/2], unchanged
    when negative, over the square root of the four margins (0 when a margin is empty). The correction keeps
    phi below 1, so the interval never collapses to zero width on a table without discordant pairs."""
    n = both + lost + gained + neither
    margins = (both + lost) * (gained + neither) * (both + gained) * (lost + neither)
    if not margins:
        return 0.0
    ad_bc = both * neither - lost * gained
    numerator = ad_bc - n / 2 if ad_bc > n / 2 else 0.0 if ad_bc >= 0 else ad_bc
    return numerator / math.sqrt(margins)


def newcombe_paired(both: int, lost: int, gained: int, neither: int,
                    confidence: float = CONFIDENCE) -> tuple[float, float]:  # fmt: skip
    """Newcombe's method-10 interval for p_base - p_new from the paired 2x2 table (fractions).

    p_base = (both + lost) / n, p_new = (both + gained) / n. Altman's worked example (both 14, lost 5, gained 0,
    neither 22) gives (0.0115, 0.2265); Fagerland et al.'s (59, 6, 16, 80) gives (-0.1186, -0.0046)."""
    n = both + lost + gained + neither
    if n <= 0 or min(both, lost, gained, neither) < 0:
        raise StatisticsError(f"a paired table needs non-negative counts and n > 0, got "
                              f"{(both, lost, gained, neither)}")
    p1, p2 = (both + lost) / n, (both + gained) / n
    l1, u1 = wilson(both + lost, n, confidence)
    l2, u2 = wilson(both + gained, n, confidence)
    phi = corrected_phi(both, lost, gained, neither)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return low, high


def paired(base_correct: Sequence[bool] | np.ndarray, new_correct: Sequence[bool] | np.ndarray,
           confidence: float = CONFIDENCE, alpha: float = ALPHA) -> PairedDrop:  # fmt: skip
    """The paired comparison of two per-image correctness vectors `(n,)` over the same images, in the same order
    (align them by image id first: `track.accuracy_drop`, `evaluate.recipe_accuracy`)."""
    a, b = np.asarray(base_correct, dtype=bool), np.asarray(new_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise StatisticsError(f"paired comparison needs two equal, non-empty vectors, got {len(a)} and {len(b)}")
    both, lost, gained = (int(np.count_nonzero(v)) for v in (a & b, a & ~b, ~a & b))
    return PairedDrop(len(a), both, lost, gained, confidence, alpha)


def newcombe_unpaired(k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10 for independent samples) for k1/n1 - k2/n2."""
    _check_rate(k1, n1)
    _check_rate(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)
