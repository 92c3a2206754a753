"""The results history: one JSON line per benchmark run, under `reports/`, rewritten atomically on every append.

Appending reads the whole file, adds a line and renames a complete temp file over it (`swinprof.files`), under
an exclusive lock on a sidecar `.lock` file so two concurrent appenders cannot drop each other's line. A writer
killed at any moment leaves either the old file or the new one, never a torn line. Entries keep summaries
(medians, quantiles, calibration), not raw samples, so the file stays small over thousands of commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from swinprof.errors import ResultsError
from swinprof.files import atomic_write_text, check_output_file, make_parents
from swinprof.measure.stats import normalise, percentile
from swinprof.track.results import Results
from swinprof.track.schema import decode, fail, need_dict, need_number, need_str, read_json_text

# Outside any checkout: reports/ holds only committed reports. CI passes --store explicitly.
DEFAULT_STORE = os.path.join(
    os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"),
    "swinprof",
    "history.jsonl",
)
HISTORY_VERSION = 1


def _case_summary(results: Results, case_id: str) -> dict:
    """Medians and p10/p90 of both clocks (wall: `median_ms`..., cpu: `cpu_median_ms`...) and the
    calibration-normalised medians (`wall_norm`, `cpu_norm`) that step detection uses."""
    c = results.case(case_id)
    out: dict = {"n": len(c.samples_ms)}
    for metric, prefix in (("wall", ""), ("cpu", "cpu_")):
        samples, cal = c.samples(metric), results.calibration_samples(metric)
        if not samples:
            continue
        out[f"{prefix}median_ms"] = statistics.median(samples)
        out[f"{prefix}p10_ms"] = percentile(samples, 10)
        out[f"{prefix}p90_ms"] = percentile(samples, 90)
        if len(cal) == len(samples):
            out[f"{metric}_norm"] = statistics.median(normalise(samples, cal, "round"))
    return out


def metric_prefix(metric: str) -> str:
    """Key prefix of a metric's summaries in a history entry."""
    return "cpu_" if metric == "cpu" else ""


def entry_from_results(results: Results, source: str | None = None) -> dict:
    """The history line of one results file: identity, environment essentials and per-case summaries."""
    env = results.environment
    cal = results.calibration_ms
    return {
        "history_version": HISTORY_VERSION,
        "suite": results.suite_name,
        "suite_identity": results.suite.get("identity"),
        "metric": results.suite.get("metric", "wall"),
        "git_sha": env.get("git_sha"),
        "git_dirty": env.get("git_dirty"),
        "timestamp": env.get("timestamp"),
        "cpu": env.get("cpu"),
        "gpu": env.get("gpu"),
        "torch": env.get("torch"),
        "threads": env.get("threads"),
        "planted_slowdown": results.planted_slowdown,
        "calibration_ms": statistics.median(cal) if cal else None,
        "source": source,
        "cases": {c.id: _case_summary(results, c.id) for c in results.cases},
    }


@contextlib.contextmanager
def _locked(store: Path) -> Iterator[None]:
    """Exclusive advisory lock beside the store: appenders take turns (readers need none, renames are atomic)."""
    with open(store.with_name(store.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _parse_lines(text: str, where: str) -> list[dict]:
    entries = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        entry = decode(line, f"{where}: line {i}")
        entries.append(check_entry(entry, f"{where}: line {i}"))
    return entries


def check_entry(entry: object, where: str) -> dict:
    """One history line, type-checked in every field the readers use (see `entry_from_results`)."""
    if not isinstance(entry, dict) or "suite" not in entry or "cases" not in entry:
        raise ResultsError(f"{where} is not a history entry")
    version = entry.get("history_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= HISTORY_VERSION:
        raise ResultsError(f"{where} has history_version {version!r}; this swinprof reads 1 to {HISTORY_VERSION}")
    need_str(entry["suite"], where, "suite")
    if entry.get("metric", "wall") not in ("wall", "cpu"):
        raise fail(where, "metric", "wall or cpu", entry.get("metric"))
    for key in ("git_sha", "timestamp", "suite_identity", "source", "cpu", "gpu", "torch"):
        need_str(entry.get(key), where, key, optional=True)
    if entry.get("git_dirty") is not None and not isinstance(entry["git_dirty"], bool):
        raise fail(where, "git_dirty", "true, false or null", entry["git_dirty"])
    need_number(entry.get("planted_slowdown", 1.0), where, "planted_slowdown", low=1.0)
    if entry.get("calibration_ms") is not None:
        need_number(entry["calibration_ms"], where, "calibration_ms", strict=True)
    for case_id, summary in need_dict(entry["cases"], where, "cases").items():
        for key, value in need_dict(summary, where, f"cases[{case_id!r}]").items():
            need_number(value, where, f"cases[{case_id!r}].{key}", strict=key != "n")  # medians: > 0
    return entry


def load_history(store: str | os.PathLike = DEFAULT_STORE) -> list[dict]:
    """Every entry, oldest first. A missing store is an empty history."""
    p = Path(store)
    if not p.exists():
        return []
    if p.is_dir():
        raise ResultsError(f"history store {str(p)!r} is a folder: give the path of a .jsonl file")
    return _parse_lines(read_json_text(p, "history store"), str(p))


def append_entry(store: str | os.PathLike, entry: dict) -> int:
    """Add one entry (atomically, under the lock); returns how many entries the store now holds."""
    p = Path(store)
    check_entry(entry, "new history entry")
    check_output_file(p)
    line = json.dumps(entry, sort_keys=True, allow_nan=False)
    make_parents(p.parent if str(p.parent) else Path("."))  # the lock file lives beside the store
    with _locked(p):
        old = read_json_text(p, "history store") if p.exists() else ""
        count = len(_parse_lines(old, str(p)))  # never rewrite a damaged store: it would hide the damage
        if old and not old.endswith("\n"):
            old += "\n"
        atomic_write_text(p, old + line + "\n")
        return count + 1


def add_results(store: str | os.PathLike, results: Results, source: str | None = None) -> int:
    return append_entry(store, entry_from_results(results, source))


def suites_in(entries: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["suite"] for e in entries))


def value_of(entry: dict, case_id: str, key: str) -> float:
    """One number of one case in one entry (NaN where the entry lacks the case or the key)."""
    v = entry["cases"].get(case_id, {}).get(key)
    return math.nan if v is None else float(v)


@dataclass(frozen=True)
class Step:
    """A step change in a series: entries from `index` on differ from those before by `ratio`."""

    index: int
    before: float
    after: float
    gap: float = 0.0  # log distance between the closest points across the step: how clean the split is

    @property
    def ratio(self) -> float:
        return self.after / self.before


def step_changes(values: list[float], threshold: float = 0.05, window: int = 5, min_segment: int = 2) -> list[Step]:
    """Indices where the series steps by more than `threshold`, cleanly.

    A step at k needs at least `min_segment` points on each side (up to `window` used), a ratio of medians
    (after / before) beyond the threshold, and no overlap: every point after above every point before (or all
    below, for a speed-up). Of neighbouring candidates the cleanest split (largest gap) is kept.
    """
    if any(math.isnan(v) for v in values):
        raise ValueError("step_changes needs a series without gaps")
    cands = []
    for k in range(min_segment, len(values) - min_segment + 1):
        before, after = values[max(0, k - window) : k], values[k : k + window]
        b, a = statistics.median(before), statistics.median(after)
        if abs(math.log(a / b)) <= math.log1p(threshold):
            continue
        gap = math.log(min(after) / max(before)) if a > b else math.log(min(before) / max(after))
        if gap > 0:
            cands.append(Step(k, b, a, gap))
    return [s for s in cands if max((t for t in cands if abs(t.index - s.index) < window), key=lambda t: t.gap) is s]


def latest_change(values: list[float], threshold: float = 0.05, window: int = 5) -> Step | None:
    """The last point as a candidate step: beyond every one of the (up to `window`) points before it by more
    than `threshold` relative to their median. One point cannot tell a step from an outlier, so callers label it
    a candidate; `step_changes` confirms it once later runs agree."""
    if len(values) < 3:
        return None
    before, last = values[-window - 1 : -1], values[-1]
    b = statistics.median(before)
    if abs(math.log(last / b)) <= math.log1p(threshold):
        return None
    clean = last > max(before) if last > b else last < min(before)
    if not clean:
        return None
    gap = math.log(last / max(before)) if last > b else math.log(min(before) / last)
    return Step(len(values) - 1, b, last, gap)
