"""Top-1 accuracy tracked beside latency, with its statistics: a drop regresses only when it is beyond the
threshold AND significant, as latency does.

A results case may carry `accuracy`:
```
"accuracy": {"images": 539, "top1": 530,             # counts (always)
             "correct": [1, 1, 0, ...],              # per-image top-1 correctness (optional)
             "data": "digits test split seed 0"}     # what the images were (optional)
```
When both files carry `correct` for the same images (same length and, if given, same `data`), the comparison is
paired: McNemar's exact test on the disagreements and Newcombe's paired interval
(`swinprof.evaluate.significance`). Otherwise it is unpaired: Fisher's exact test and Newcombe's interval for two
independent rates. Verdicts follow `measure.stats`: significant and beyond the threshold -> regression (or
improvement); significant but small, or an interval inside +-threshold -> unchanged; else uncertain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from swinprof.errors import ResultsError
from swinprof.evaluate.significance import PairedDrop, newcombe_unpaired, paired
from swinprof.measure.stats import IMPROVEMENT, REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.track.results import Results


@dataclass(frozen=True)
class CaseAccuracy:
    images: int
    top1: int
    correct: tuple[bool, ...] | None
    data: str | None

    @property
    def percent(self) -> float:
        return 100 * self.top1 / self.images


@dataclass(frozen=True)
class AccuracyDrop:
    """One case: top-1 before and after, the drop in points (positive = worse), its interval, p and verdict."""

    case_id: str
    base: CaseAccuracy
    new: CaseAccuracy
    drop: float
    low: float
    high: float
    p_value: float
    test: str
    verdict: str
    threshold: float


def read_accuracy(results: Results, case_id: str, where: str) -> CaseAccuracy | None:
    """A case's `accuracy`, type-checked (None when the case has none)."""
    raw = results.case(case_id).spec.get("accuracy")
    if raw is None:
        return None
    here = f"{where}: case {case_id!r} accuracy"
    if not isinstance(raw, dict):
        raise ResultsError(f"{here} is not a table")
    images, top1, correct, data = raw.get("images"), raw.get("top1"), raw.get("correct"), raw.get("data")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (images, top1)) or not 0 <= top1 <= images \
            or images < 1:  # fmt: skip
        raise ResultsError(f"{here}: needs integers images >= 1 and 0 <= top1 <= images, got {images!r}, {top1!r}")
    if correct is not None:
        if not isinstance(correct, list) or len(correct) != images or any(c not in (0, 1) for c in correct):
            raise ResultsError(f"{here}: correct must be {images} values 0 or 1 (one per image)")
        if sum(correct) != top1:
            raise ResultsError(f"{here}: correct has {sum(correct)} ones but top1 is {top1}")
        correct = tuple(bool(c) for c in correct)
    if data is not None and not isinstance(data, str):
        raise ResultsError(f"{here}: data must be a string naming the images")
    return CaseAccuracy(images, top1, correct, data)


def _verdict(drop: float, low: float, high: float, p: float, alpha: float, threshold: float) -> str:
    significant = p < alpha
    if significant and drop > threshold:
        return REGRESSION
    if significant and drop < -threshold:
        return IMPROVEMENT
    if significant or (-threshold <= low and high <= threshold):
        return UNCHANGED
    return UNCERTAIN


def _pairable(a: CaseAccuracy, b: CaseAccuracy) -> bool:
    return a.correct is not None and b.correct is not None and a.images == b.images and a.data == b.data


def compare_case(case_id: str, a: CaseAccuracy, b: CaseAccuracy, threshold: float, alpha: float) -> AccuracyDrop:
    """Decide one case; `threshold` in percentage points of top-1."""
    if _pairable(a, b):
        d: PairedDrop = paired(a.correct, b.correct)
        low, high = d.interval
        drop, p, test = d.drop, d.p_value, "McNemar exact (paired)"
    else:
        from scipy.stats import fisher_exact

        table = [[a.top1, a.images - a.top1], [b.top1, b.images - b.top1]]
        p = float(fisher_exact(table).pvalue)
        lo, hi = newcombe_unpaired(a.top1, a.images, b.top1, b.images)
        drop, low, high, test = a.percent - b.percent, 100 * lo, 100 * hi, "Fisher exact (unpaired)"
    return AccuracyDrop(case_id, a, b, drop, low, high, p, test, _verdict(drop, low, high, p, alpha, threshold),
                        threshold)  # fmt: skip


def compare_accuracy(base: Results, new: Results, threshold: float = 1.0, alpha: float = 0.05) -> list[AccuracyDrop]:
    """Every case both files carry top-1 accuracy for, decided."""
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold >= 0):
        raise ResultsError(f"accuracy threshold must be >= 0 points, got {threshold!r}")
    out = []
    for c in base.cases:
        a, b = read_accuracy(base, c.id, "baseline"), read_accuracy(new, c.id, "current")
        if a is not None and b is not None:
            out.append(compare_case(c.id, a, b, threshold, alpha))
    return out


def accuracy_drop_frame(drops: list[AccuracyDrop]) -> pd.DataFrame:
    return pd.DataFrame([
        {"case": d.case_id, "images": d.new.images, "baseline top-1 %": d.base.percent,
         "current top-1 %": d.new.percent, "drop pt": d.drop, "95% interval pt": f"[{d.low:.2f}, {d.high:.2f}]",
         "p": d.p_value, "test": d.test, "limit": f"{d.threshold:g} pt", "verdict": d.verdict}
        for d in drops
    ])  # fmt: skip
