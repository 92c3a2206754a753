"""Fidelity tracked beside latency: a results case may carry `fidelity` (SQNR dB and top-1 agreement against
fp32, from `swinprof.evaluate.fidelity`), and regress flags a drop beyond a threshold as a regression.

Fidelity of a seeded model on seeded inputs is deterministic up to kernel rounding, so there is no sample
distribution to test: a drop larger than the threshold is a regression, anything else is not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from swinprof.errors import ResultsError, SwinprofError
from swinprof.track.accuracy_drop import MAX_POINTS, check_points_limit
from swinprof.track.results import Results

# results-case key -> (label, unit, scale from the stored value to the unit of the threshold)
FIDELITY_KEYS = {"sqnr_db": ("SQNR", "dB", 1.0), "top1_agreement": ("top-1 agreement", "points", 100.0)}


@dataclass(frozen=True)
class AccuracyChange:
    """One fidelity value of one case: baseline, current, their drop (in `unit`) and whether it regressed."""

    case_id: str
    key: str
    base: float
    new: float
    drop: float
    limit: float
    unit: str

    @property
    def regression(self) -> bool:
        return self.drop > self.limit


def parse_limit(text: str, unit: str) -> float:
    """`1dB`, `0.5 dB`, `1` (dB) or `1pt`, `0.5` (points) -> a non-negative number. A limit in points must be
    below 100: a top-1 (or agreement) drop never exceeds 100 points, so a larger limit would switch the check off."""
    suffix = {"dB": r"(?:db)?", "points": r"(?:pt|pts|points|%)?"}[unit]
    m = re.fullmatch(rf"\s*([0-9]*\.?[0-9]+)\s*{suffix}\s*", str(text), re.IGNORECASE)
    example = "1dB" if unit == "dB" else "1pt (percentage points of top-1)"
    if m is None:
        raise SwinprofError(f"accuracy limit {text!r} not understood: give e.g. {example}")
    value = float(m.group(1))
    if unit == "points" and value >= MAX_POINTS:
        raise SwinprofError(f"accuracy limit {text!r} is {value:g} points: a top-1 drop never exceeds "
                            f"{MAX_POINTS:g}, so the check would be off; give a limit below {MAX_POINTS:g}pt, e.g. "
                            f"{example}")  # fmt: skip
    return value


def _fidelity(results: Results, case_id: str, where: str) -> dict[str, float]:
    raw = results.case(case_id).spec.get("fidelity") or {}
    if not isinstance(raw, dict):
        raise ResultsError(f"{where}: case {case_id!r} has a fidelity that is not a table")
    out = {}
    for key in FIDELITY_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ResultsError(f"{where}: case {case_id!r} fidelity {key} is not a number: {value!r}")
        out[key] = float(value)
    return out


def compare_fidelity(base: Results, new: Results, sqnr_db: float = 1.0, top1_points: float = 1.0):
    """Every fidelity value both files carry for a case, with its drop and whether it exceeds its limit."""
    if isinstance(sqnr_db, bool) or not isinstance(sqnr_db, int | float) or not math.isfinite(sqnr_db) or sqnr_db < 0:
        raise ResultsError(f"SQNR limit must be a finite number of dB >= 0, got {sqnr_db!r}")
    limits = {"sqnr_db": float(sqnr_db), "top1_agreement": check_points_limit(top1_points, "top-1 agreement limit")}
    out = []
    for b in base.cases:
        before, after = _fidelity(base, b.id, "baseline"), _fidelity(new, b.id, "current")
        for key in before.keys() & after.keys():
            _, unit, scale = FIDELITY_KEYS[key]
            drop = (before[key] - after[key]) * scale if math.isfinite(before[key]) else 0.0
            if math.isinf(before[key]) and not math.isinf(after[key]):
                drop = math.inf  # lossless before, lossy now
            out.append(AccuracyChange(b.id, key, before[key], after[key], drop, limits[key], unit))
    return out


def accuracy_frame(changes: list[AccuracyChange]):
    """One row per (case, fidelity value): baseline, current, drop, limit, verdict."""
    import pandas as pd

    return pd.DataFrame([
        {"case": c.case_id, "metric": FIDELITY_KEYS[c.key][0], "baseline": c.base, "current": c.new,
         "drop": c.drop, "limit": f"{c.limit:g} {c.unit}", "verdict": "regression" if c.regression else "ok"}
        for c in changes
    ])  # fmt: skip
