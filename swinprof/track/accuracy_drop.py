"""Top-1 accuracy tracked beside latency, with its statistics: a drop regresses only when it is beyond the
threshold AND significant, as latency does.

A results case may carry `accuracy` (written by `swinprof bench --data`, `track.bench_accuracy`):
```
"accuracy": {"images": 539, "top1": 530,             # counts (always)
             "correct": [1, 1, 0, ...],              # per-image top-1 correctness (optional)
             "ids": ["3/img_0007.png", ...],         # each image's path relative to the data root, same order
             "data": "digits test split seed 0"}     # what the images were (optional, informational)
```
Two files are compared pairwise (McNemar's exact test on the disagreements and Newcombe's paired interval,
`swinprof.evaluate.significance`) only when both carry per-image correctness AND image ids over the same set of
images: the vectors are aligned by id, so a file whose images came back in another order (an out-of-order gather)
still pairs, and two files over different images never do. Otherwise the comparison is unpaired (Fisher's exact
test and Newcombe's interval for two independent rates) and `AccuracyDrop.pairing` says why: counts only, no ids
(a file written before ids were recorded), or different image sets. Verdicts follow `measure.stats`: significant
and beyond the threshold -> regression (or improvement); significant but small, or an interval inside
+-threshold -> unchanged; else uncertain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from swinprof.errors import ResultsError
from swinprof.evaluate.significance import newcombe_unpaired, paired
from swinprof.measure.stats import IMPROVEMENT, REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.track.results import Results

PAIRED_BY_ID = "paired by image id"
MAX_POINTS = 100.0  # a top-1 drop cannot exceed 100 points: a limit at or above it switches the check off


@dataclass(frozen=True, eq=False)
class CaseAccuracy:
    """One case's top-1: `correct` `(images,)` bool per image (None: counts only), `ids` the images' ids in the
    same order (None: not recorded)."""

    images: int
    top1: int
    correct: np.ndarray | tuple[bool, ...] | None
    data: str | None
    ids: tuple[str, ...] | None = None

    @property
    def percent(self) -> float:
        return 100 * self.top1 / self.images


@dataclass(frozen=True)
class AccuracyDrop:
    """One case: top-1 before and after, the drop in points (positive = worse), its interval, p and verdict;
    `pairing`: `PAIRED_BY_ID`, or why the comparison had to be unpaired."""

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
    pairing: str = PAIRED_BY_ID

    @property
    def paired(self) -> bool:
        return self.pairing == PAIRED_BY_ID


def _correctness(raw: object, images: int, top1: int, here: str) -> np.ndarray:
    """`correct` as a `(images,)` bool array: 0/1 (or booleans) only, one per image, summing to top1."""
    arr = np.asarray(raw) if isinstance(raw, list) else None
    if arr is None or arr.ndim != 1 or len(arr) != images or arr.dtype.kind not in "biuf" \
            or not np.isin(arr, (0, 1)).all():  # fmt: skip
        raise ResultsError(f"{here}: correct must be {images} values 0 or 1 (one per image)")
    correct = arr.astype(bool)
    if int(np.count_nonzero(correct)) != top1:
        raise ResultsError(f"{here}: correct has {int(np.count_nonzero(correct))} ones but top1 is {top1}")
    return correct


def _ids(raw: object, images: int, here: str, seen: dict | None = None) -> tuple[str, ...]:
    """`ids`: one distinct non-empty string per image. `seen` (tuple -> itself) shares one checked tuple among the
    cases of a file that list the same images (50,000 ids are checked once, not once per recipe)."""
    if not isinstance(raw, list) or len(raw) != images:
        raise ResultsError(f"{here}: ids must be {images} non-empty strings (each image's path relative to the "
                           "data root, in the order of correct)")  # fmt: skip
    ids = tuple(raw)
    if seen is not None and ids in seen:
        return seen[ids]
    distinct = set(ids) if set(map(type, ids)) <= {str} else None  # type() per item runs in C
    if distinct is None or "" in distinct:
        raise ResultsError(f"{here}: ids must be {images} non-empty strings (each image's path relative to the "
                           "data root, in the order of correct)")  # fmt: skip
    if len(distinct) != images:
        raise ResultsError(f"{here}: ids name {images - len(distinct)} image(s) twice")
    if seen is not None:
        seen[ids] = ids
    return ids


def read_accuracy(results: Results, case_id: str, where: str, seen_ids: dict | None = None) -> CaseAccuracy | None:
    """A case's `accuracy`, type-checked (None when the case has none); `seen_ids`: see `_ids`."""
    raw = results.case(case_id).spec.get("accuracy")
    if raw is None:
        return None
    here = f"{where}: case {case_id!r} accuracy"
    if not isinstance(raw, dict):
        raise ResultsError(f"{here} is not a table")
    images, top1, data = raw.get("images"), raw.get("top1"), raw.get("data")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (images, top1)) or not 0 <= top1 <= images \
            or images < 1:  # fmt: skip
        raise ResultsError(f"{here}: needs integers images >= 1 and 0 <= top1 <= images, got {images!r}, {top1!r}")
    correct = None if raw.get("correct") is None else _correctness(raw["correct"], images, top1, here)
    ids = None
    if raw.get("ids") is not None:
        if correct is None:
            raise ResultsError(f"{here}: ids without correct (per-image ids need per-image correctness)")
        ids = _ids(raw["ids"], images, here, seen_ids)
    if data is not None and not isinstance(data, str):
        raise ResultsError(f"{here}: data must be a string naming the images")
    return CaseAccuracy(images, top1, correct, data, ids)


def _verdict(drop: float, low: float, high: float, p: float, alpha: float, threshold: float) -> str:
    significant = p < alpha
    if significant and drop > threshold:
        return REGRESSION
    if significant and drop < -threshold:
        return IMPROVEMENT
    if significant or (-threshold <= low and high <= threshold):
        return UNCHANGED
    return UNCERTAIN


def _lacking(a: CaseAccuracy, b: CaseAccuracy, attribute: str, what: str) -> str:
    """`neither file carries {what}` / `the baseline file carries no {what}`."""
    missing = [name for name, x in (("baseline", a), ("current", b)) if getattr(x, attribute) is None]
    return f"neither file carries {what}" if len(missing) == 2 else f"the {missing[0]} file carries no {what}"


def align_by_id(a: CaseAccuracy, b: CaseAccuracy, orders: dict | None = None) -> tuple[np.ndarray, np.ndarray] | str:
    """The two correctness vectors over the same images in the same order, or why they cannot be paired.
    `orders` keeps each (baseline ids, current ids) alignment for the next case over the same images."""
    if a.correct is None or b.correct is None:
        return f"{_lacking(a, b, 'correct', 'per-image correctness')} (counts only)"
    if a.ids is None or b.ids is None:
        return (f"{_lacking(a, b, 'ids', 'image ids')} (written before ids were recorded), so per-image results "
                "cannot be matched by image; re-run it to pair")  # fmt: skip
    base, new = np.asarray(a.correct, bool), np.asarray(b.correct, bool)
    if a.ids is b.ids or a.ids == b.ids:
        return base, new
    key = (id(a.ids), id(b.ids))  # the tuples are shared per file (`_ids`), so identity names an image list
    order = orders.get(key) if orders is not None else None
    if order is None:
        order = _order(a.ids, b.ids)
        if orders is not None:
            orders[key] = order
    return (base, new[order]) if not isinstance(order, str) else order


def _order(a_ids: tuple[str, ...], b_ids: tuple[str, ...]) -> np.ndarray | str:
    """Indices into `b_ids` listing `a_ids`' images in `a_ids`' order, or why there are none."""
    a_set, b_set = set(a_ids), set(b_ids)
    only_a, only_b = a_set - b_set, b_set - a_set
    if only_a or only_b:
        example = sorted(only_a or only_b)[0]
        return (f"the files scored different images ({len(only_a)} only in the baseline, {len(only_b)} only in the "
                f"current, e.g. {example!r})")  # fmt: skip
    position = dict(zip(b_ids, range(len(b_ids))))
    return np.fromiter(map(position.__getitem__, a_ids), dtype=np.int64, count=len(a_ids))


def compare_case(case_id: str, a: CaseAccuracy, b: CaseAccuracy, threshold: float, alpha: float,
                 orders: dict | None = None) -> AccuracyDrop:  # fmt: skip
    """Decide one case; `threshold` in percentage points of top-1 (`orders`: see `align_by_id`)."""
    aligned = align_by_id(a, b, orders)
    if isinstance(aligned, tuple):
        d = paired(*aligned)
        low, high = d.interval
        drop, p, test, pairing = d.drop, d.p_value, "McNemar exact (paired)", PAIRED_BY_ID
    else:
        from scipy.stats import fisher_exact

        table = [[a.top1, a.images - a.top1], [b.top1, b.images - b.top1]]
        p = float(fisher_exact(table).pvalue)
        lo, hi = newcombe_unpaired(a.top1, a.images, b.top1, b.images)
        drop, low, high, test, pairing = a.percent - b.percent, 100 * lo, 100 * hi, "Fisher exact (unpaired)", aligned
    return AccuracyDrop(case_id, a, b, drop, low, high, p, test, _verdict(drop, low, high, p, alpha, threshold),
                        threshold, pairing)  # fmt: skip


def check_points_limit(threshold: object, what: str = "accuracy threshold") -> float:
    """A top-1 limit in points: finite, >= 0 and below 100 (a larger one could never be exceeded)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold) \
            or not 0 <= threshold < MAX_POINTS:  # fmt: skip
        raise ResultsError(f"{what} must be >= 0 and below {MAX_POINTS:g} points (a top-1 drop never exceeds "
                           f"{MAX_POINTS:g}, so a larger limit switches the check off), got {threshold!r}")  # fmt: skip
    return float(threshold)


def compare_accuracy(base: Results, new: Results, threshold: float = 1.0, alpha: float = 0.05) -> list[AccuracyDrop]:
    """Every case both files carry top-1 accuracy for, decided."""
    check_points_limit(threshold)
    out, base_ids, new_ids, orders = [], {}, {}, {}
    for c in base.cases:
        a, b = read_accuracy(base, c.id, "baseline", base_ids), read_accuracy(new, c.id, "current", new_ids)
        if a is not None and b is not None:
            out.append(compare_case(c.id, a, b, threshold, alpha, orders))
    return out


def pairing_warnings(drops: list[AccuracyDrop]) -> list[str]:
    """One line per reason a comparison was unpaired (naming its cases), and one per paired case whose files
    describe their images differently (paired by id all the same: the ids are relative to each data root)."""
    by_reason: dict[str, list[str]] = {}
    for d in drops:
        if not d.paired:
            by_reason.setdefault(d.pairing, []).append(d.case_id)
    out = [f"top-1 of {_cases(ids)} compared unpaired (Fisher's exact test, weaker than a paired test): {reason}"
           for reason, ids in by_reason.items()]  # fmt: skip
    out += [f"{d.case_id}: top-1 paired by image id although the files describe their images differently "
            f"(baseline: {d.base.data!r}; current: {d.new.data!r})"
            for d in drops if d.paired and None not in (d.base.data, d.new.data) and d.base.data != d.new.data]
    return out


def _cases(ids: list[str]) -> str:
    if len(ids) == 1:
        return f"case {ids[0]}"
    return f"{len(ids)} cases ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"


def accuracy_drop_frame(drops: list[AccuracyDrop]):
    import pandas as pd

    return pd.DataFrame([
        {"case": d.case_id, "images": d.new.images, "baseline top-1 %": d.base.percent,
         "current top-1 %": d.new.percent, "drop pt": d.drop, "95% interval pt": f"[{d.low:.2f}, {d.high:.2f}]",
         "p": d.p_value, "test": d.test, "limit": f"{d.threshold:g} pt", "verdict": d.verdict}
        for d in drops
    ])  # fmt: skip
