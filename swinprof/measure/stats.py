"""Is one set of latency samples slower than another? A rank test AND a ratio beyond a threshold.

In the style of asv and Chromium's pinpoint: a change is only called when it is both statistically
significant (two-sided Mann-Whitney U, p < alpha) and larger than the threshold (ratio of medians). When the
samples cannot tell (too few, or so noisy that a change beyond the threshold can be neither shown nor ruled out)
the verdict is "uncertain" — rerun rather than guess. The ratio comes with a Hodges-Lehmann confidence interval
(on log latencies, so it is an interval for the ratio), which is the interval that matches the rank test.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

REGRESSION, IMPROVEMENT, UNCHANGED, UNCERTAIN = "regression", "improvement", "unchanged", "uncertain"
VERDICTS = (REGRESSION, IMPROVEMENT, UNCHANGED, UNCERTAIN)


@dataclass(frozen=True)
class Decision:
    """The comparison of one case: `ratio` = median(new) / median(base); > 1 means slower."""

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


def ratio_interval(base: list[float], new: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Hodges-Lehmann estimate and distribution-free interval of new/base: `(estimate, low, high)`.

    Works on log samples: the median of all pairwise differences log(new_j) - log(base_i) estimates the log
    ratio; the interval takes the order statistics of those differences given by the normal approximation of
    the Mann-Whitney U distribution.
    """
    x, y = np.log(np.asarray(base, float)), np.log(np.asarray(new, float))
    n, m = len(x), len(y)
    diffs = np.sort((y[None, :] - x[:, None]).ravel())
    from scipy import stats as sps  # scipy costs ~1 s to import: only the commands that decide pay it

    z = sps.norm.ppf(0.5 + confidence / 2)
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(k, 0), len(diffs) - 1)
    return float(np.exp(np.median(diffs))), float(np.exp(diffs[k])), float(np.exp(diffs[len(diffs) - 1 - k]))


def compare_samples(
    base: list[float],
    new: list[float],
    threshold: float = 0.05,
    alpha: float = 0.01,
    min_samples: int = 10,
    confidence: float = 0.95,
) -> Decision:
    """Verdict for one case. `threshold` is a fraction (0.05 = 5%): slower by more than 5% is a regression,
    faster by more than 1/1.05 an improvement.
    """
    n, m = len(base), len(new)
    if n < min_samples or m < min_samples:
        return Decision(UNCERTAIN, f"too few samples ({n} vs {m}, need {min_samples}): rerun with more",
                        _safe_ratio(base, new), math.nan, math.nan, math.nan, n, m)  # fmt: skip
    if min(base) <= 0 or min(new) <= 0:  # e.g. CPU time of a call shorter than the clock's granularity
        return Decision(UNCERTAIN, "samples of 0 ms: the case is too short for this clock; batch it up",
                        math.nan, math.nan, math.nan, math.nan, n, m)  # fmt: skip
    ratio = statistics.median(new) / statistics.median(base)
    _, lo, hi = ratio_interval(base, new, confidence)
    from scipy import stats as sps

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


def _safe_ratio(base: list[float], new: list[float]) -> float:
    if not base or not new:
        return math.nan
    return statistics.median(new) / statistics.median(base)


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
