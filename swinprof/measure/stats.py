"""Is one set of latency samples slower than another? A rank test AND a ratio beyond a threshold.

In the style of asv and Chromium's pinpoint: a change is only called when it is both statistically
significant (two-sided Mann-Whitney U, p < alpha) and larger than the threshold. When the samples cannot tell
(too few, or so noisy that a change beyond the threshold can be neither shown nor ruled out) the verdict is
"uncertain" — rerun rather than guess.

One estimate serves the point, the interval and the verdict: the Hodges-Lehmann estimate of the ratio (the median
of all pairwise ratios new_j / base_i, computed on log latencies) with the distribution-free interval that
inverts the same rank test (order statistics of the pairwise log ratios, critical value from the exact
Mann-Whitney distribution for up to `EXACT_PAIRS` pairs, its normal approximation beyond). The interval's
coverage is never below the stated confidence; where no interval can reach it (n = m <= 3 at 95%: the widest,
[min, max] of the pairwise ratios, covers 1 - 2 / C(n + m, n)) the sample counts are refused or flagged, never
silently widened to [min, max].
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from swinprof.errors import SwinprofError

REGRESSION, IMPROVEMENT, UNCHANGED, UNCERTAIN = "regression", "improvement", "unchanged", "uncertain"
VERDICTS = (REGRESSION, IMPROVEMENT, UNCHANGED, UNCERTAIN)
CONFIDENCE = 0.95
EXACT_PAIRS = 10_000  # n x m up to which the rank interval's critical value comes from the exact distribution


class StatisticsError(SwinprofError, ValueError):
    """A statistic asked of data that cannot give it: no images, or too few samples for the stated confidence."""


def percentile(samples, q: float) -> float:
    """Linear-interpolated percentile of `samples`, q in [0, 100]: the one rule every swinprof percentile uses
    (`measure.timing.Timing`, trtexec imports)."""
    s = sorted(samples)
    if not s:
        raise StatisticsError("a percentile of no samples")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def widest_confidence(n: int, m: int) -> float:
    """Coverage of the widest rank interval, [min, max] of the n x m pairwise ratios: 1 - 2 / C(n + m, n)."""
    if n < 1 or m < 1:
        return 0.0
    return 1.0 - 2.0 / math.comb(n + m, n)


def fewest_samples(confidence: float = CONFIDENCE) -> int:
    """The fewest samples per side (n = m) with which a rank interval reaches `confidence` (4 for 95%)."""
    n = 1
    while widest_confidence(n, n) < confidence:
        n += 1
    return n


def check_reachable(n: int, m: int, confidence: float = CONFIDENCE, what: str = "samples") -> None:
    """StatisticsError unless n vs m samples can give a `confidence` rank interval."""
    if widest_confidence(n, m) < confidence:
        raise StatisticsError(
            f"{n} vs {m} {what} cannot give a {confidence:.0%} interval: the widest one ([min, max] of the "
            f"pairwise ratios) covers only {widest_confidence(n, m):.1%}; take at least {fewest_samples(confidence)} "
            "on each side"
        )


@lru_cache(maxsize=256)
def _u_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u), u = 0 .. n m, of the Mann-Whitney count U = #{(i, j): y_j > x_i} for n x's and m y's from one
    continuous distribution. The counts of U are the coefficients of the Gaussian binomial [n + m, n]_q =
    prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i): n multiplications and divisions of a polynomial of degree n m
    (the division by 1 - q^i is a running sum along each residue class mod i)."""
    size = n * m + 1
    counts = np.zeros(size)
    counts[0] = 1.0
    for i in range(1, n + 1):
        if m + i < size:
            counts[m + i :] -= counts[: size - m - i].copy()
        padded = np.concatenate([counts, np.zeros((-size) % i)])
        counts = padded.reshape(-1, i).cumsum(axis=0).ravel()[:size]
    cdf = np.cumsum(counts) / counts.sum()
    cdf.flags.writeable = False
    return cdf


def rank_interval_index(n: int, m: int, confidence: float = CONFIDENCE) -> int:
    """0-based k such that [D_k, D_(nm-1-k)] of the sorted pairwise differences covers at least `confidence`:
    the largest k with P(U <= k) <= (1 - confidence) / 2 (exact up to `EXACT_PAIRS` pairs, else the normal
    approximation with continuity correction)."""
    check_reachable(n, m, confidence)
    half_alpha = (1 - confidence) / 2
    if n * m <= EXACT_PAIRS:
        return int(np.searchsorted(_u_cdf(n, m), half_alpha * (1 + 1e-12), side="right")) - 1
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - half_alpha)
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12) - 0.5)
    return max(k, 0)


def ratio_interval(base: list[float], new: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Hodges-Lehmann estimate and distribution-free interval of new/base: `(estimate, low, high)`.

    Works on log samples: the median of all pairwise differences log(new_j) - log(base_i) estimates the log
    ratio; the interval takes the order statistics of those differences that invert the Mann-Whitney test
    (`rank_interval_index`). Raises StatisticsError when the sample counts cannot reach `confidence`.
    """
    x, y = np.log(np.asarray(base, float)), np.log(np.asarray(new, float))
    k = rank_interval_index(len(x), len(y), confidence)
    diffs = (y[None, :] - x[:, None]).ravel()
    total = len(diffs)
    picks = sorted({k, total - 1 - k, (total - 1) // 2, total // 2})
    part = np.partition(diffs, picks)
    estimate = (part[(total - 1) // 2] + part[total // 2]) / 2
    return float(np.exp(estimate)), float(np.exp(part[k])), float(np.exp(part[total - 1 - k]))


def hodges_lehmann(base: list[float], new: list[float]) -> float:
    """The Hodges-Lehmann estimate of new/base alone (any sample counts >= 1): median of the pairwise ratios."""
    if not len(base) or not len(new):
        return math.nan
    x, y = np.log(np.asarray(base, float)), np.log(np.asarray(new, float))
    return float(np.exp(np.median((y[None, :] - x[:, None]).ravel())))


@dataclass(frozen=True)
class Decision:
    """The comparison of one case: `ratio` is the Hodges-Lehmann estimate of new / base (> 1 means slower),
    `ci_low`, `ci_high` its rank interval (NaN when none could be given)."""

    verdict: str
    reason: str
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n_base: int
    n_new: int

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100


def compare_samples(
    base: list[float],
    new: list[float],
    threshold: float = 0.05,
    alpha: float = 0.01,
    min_samples: int = 10,
    confidence: float = CONFIDENCE,
) -> Decision:
    """Verdict for one case. `threshold` is a fraction (0.05 = 5%): slower by more than 5% is a regression,
    faster by more than 1/1.05 an improvement. Sample counts that cannot give a `confidence` interval (3 vs 3 at
    95%) are uncertain, whatever `min_samples` allows.
    """
    n, m = len(base), len(new)
    if n < min_samples or m < min_samples:
        return Decision(UNCERTAIN, f"too few samples ({n} vs {m}, need {min_samples}): rerun with more",
                        _safe_estimate(base, new), math.nan, math.nan, math.nan, n, m)  # fmt: skip
    if min(base) <= 0 or min(new) <= 0:  # e.g. CPU time of a call shorter than the clock's granularity
        return Decision(UNCERTAIN, "samples of 0 ms: the case is too short for this clock; batch it up",
                        math.nan, math.nan, math.nan, math.nan, n, m)  # fmt: skip
    if widest_confidence(n, m) < confidence:
        reason = (f"too few samples for a {confidence:.0%} interval ({n} vs {m}: the widest covers "
                  f"{widest_confidence(n, m):.0%}); rerun with at least {fewest_samples(confidence)} each")  # fmt: skip
        return Decision(UNCERTAIN, reason, hodges_lehmann(base, new), math.nan, math.nan, math.nan, n, m)
    ratio, lo, hi = ratio_interval(base, new, confidence)
    from scipy import stats as sps  # scipy costs ~1 s to import: only the commands that decide pay it

    p = float(sps.mannwhitneyu(new, base, alternative="two-sided").pvalue)
    up, down = 1.0 + threshold, 1.0 / (1.0 + threshold)
    significant = p < alpha
    if significant and ratio > up:
        verdict, reason = REGRESSION, f"slower by {(ratio - 1) * 100:.1f}% (> {threshold:.0%}), p={p:.2g}"
    elif significant and ratio < down:
        verdict, reason = IMPROVEMENT, f"faster by {(1 - ratio) * 100:.1f}% (> {threshold:.0%}), p={p:.2g}"
    elif significant or (down <= lo and hi <= up):
        verdict, reason = UNCHANGED, _unchanged_reason(significant, threshold, p)
    else:
        verdict, reason = (
            UNCERTAIN,
            (
                f"too noisy: not significant (p={p:.2g}) but the {confidence:.0%} interval [{lo:.3f}, {hi:.3f}] "
                f"reaches beyond ±{threshold:.0%}; rerun with more samples or on a quieter machine"
            ),
        )
    return Decision(verdict, reason, ratio, lo, hi, p, n, m)


def _unchanged_reason(significant: bool, threshold: float, p: float) -> str:
    if significant:
        return f"a significant but small change (within ±{threshold:.0%}), p={p:.2g}"
    return f"no significant change, p={p:.2g}"


def _safe_estimate(base: list[float], new: list[float]) -> float:
    if not base or not new or min(base) <= 0 or min(new) <= 0:
        return math.nan
    return hodges_lehmann(base, new)


def normalise(samples: list[float], calibration: list[float], mode: str) -> list[float]:
    """Samples in units of the calibration workload, so runs on machines of different speed compare.

    `round`: each sample divided by the calibration sample of the same interleaved round (cancels load that
    changes during the run); `run`: divided by the run's median calibration; `none`: raw milliseconds.
    """
    if mode == "none":
        return list(samples)
    if not calibration:
        raise ValueError("no calibration samples to normalise with")
    if mode == "run":
        c = statistics.median(calibration)
        return [s / c for s in samples]
    if mode == "round":
        if len(calibration) != len(samples):
            raise ValueError("per-round normalisation needs one calibration sample per round")
        return [s / c for s, c in zip(samples, calibration)]
    raise ValueError(f"unknown normalisation {mode!r}; choose round, run or none")
