"""The benchmark results file: a versioned JSON document with the raw samples of every case.

Layout (schema_version 1):
```
{"schema_version": 1, "kind": "swinprof-bench-results",
 "suite": {name, description, device, threads, warmup, samples, seed, path, identity, cases: [...]},
 "environment": {torch, python, cpu, threads, device, gpu, git_sha, git_dirty, timestamp, ...},
 "calibration": {"workload": "...", "samples_ms": [one per round], "cpu_ms": [one per round]},
 "cases": [{"id": ..., "model", "res", "batch", "attn", "recipe", "name", "config",
            "samples_ms": [wall ms, one per round], "cpu_ms": [process CPU ms, one per round; empty on CUDA]}],
 "planted_slowdown": 1.0, "duration_s": ...}
```
Sample `i` of every case and of the calibration comes from the same interleaved round `i`. A case may also carry
`fidelity` (`{"sqnr_db", "top1_agreement", "samples"}`, recipe cases: `track.fidelity`) and `accuracy` (`{"images",
"top1", "correct": [0/1 per image], "ids": [image path relative to the data root, same order], "data", ...}`,
`bench --data`: `track.accuracy_drop`, which checks it); both are optional, and `accuracy` without `ids` (files
written before ids were recorded) still reads, compared unpaired. Readers upgrade older schema versions through
`_MIGRATIONS` and refuse newer ones with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swinprof.errors import ResultsError
from swinprof.files import atomic_write_text
from swinprof.track.schema import (
    decode,
    fail,
    need_dict,
    need_number,
    need_samples,
    need_scalars,
    need_str,
    read_json_text,
)

SCHEMA_VERSION = 1
KIND = "swinprof-bench-results"
METRICS = ("wall", "cpu")
# version N -> function upgrading a version-N document to version N+1. Add one entry per schema change.
_MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


@dataclass
class CaseResult:
    """Raw samples of one case, in ms, one per round."""

    id: str
    spec: dict
    samples_ms: list[float]
    cpu_ms: list[float] = field(default_factory=list)

    def samples(self, metric: str = "wall") -> list[float]:
        """`wall` (latency; CUDA events on GPU) or `cpu` (process CPU time, CPU runs only)."""
        return self.samples_ms if metric == "wall" else self.cpu_ms

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)


@dataclass
class Results:
    """One run of a suite."""

    suite: dict
    environment: dict
    calibration: dict
    cases: list[CaseResult]
    planted_slowdown: float = 1.0
    duration_s: float | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def suite_name(self) -> str:
        return self.suite["name"]

    @property
    def calibration_ms(self) -> list[float]:
        return list(self.calibration.get("samples_ms") or [])

    def calibration_samples(self, metric: str = "wall") -> list[float]:
        return list(self.calibration.get("samples_ms" if metric == "wall" else "cpu_ms") or [])

    def case(self, case_id: str) -> CaseResult:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise ResultsError(f"case {case_id!r} is not in this results file; it has: {[c.id for c in self.cases]}")

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "suite": self.suite,
            "environment": self.environment,
            "calibration": self.calibration,
            "cases": [{"id": c.id, **c.spec, "samples_ms": c.samples_ms, "cpu_ms": c.cpu_ms} for c in self.cases],
            "planted_slowdown": self.planted_slowdown,
            "duration_s": self.duration_s,
            **self.extra,
        }


def save_results(results: Results, path: str | os.PathLike) -> Path:
    """Write atomically: a reader sees the old file or the complete new one, never half of it."""
    text = json.dumps(results.to_dict(), indent=1, allow_nan=False) + "\n"  # strict JSON: no NaN ever written
    return atomic_write_text(Path(path), text)


def _upgrade(doc: dict, where: str) -> dict:
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ResultsError(f"{where}: no integer schema_version; is this a swinprof bench results file?")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{where}: written with results schema {version}, newer than this swinprof reads ({SCHEMA_VERSION}); "
            "upgrade swinprof or re-run the benchmark with this version"
        )
    while version < SCHEMA_VERSION:
        migrate = _MIGRATIONS.get(version)
        if migrate is None:
            raise ResultsError(
                f"{where}: results schema {version} is no longer supported (this swinprof reads "
                f"{sorted([*_MIGRATIONS, SCHEMA_VERSION])}); re-run the benchmark to make a new baseline"
            )
        doc = migrate(doc)
        version = doc["schema_version"]
    return doc


def _parse_case(raw: object, where: str, rounds: int | None) -> CaseResult:
    """One case: a string id, positive wall samples (one per round), CPU samples (one per round, or none)."""
    raw = need_dict(raw, where, "every case")
    case_id = need_str(raw.get("id"), where, "a case's id")
    here = f"{where}: case {case_id!r}"
    # CPU time of a very short call can read 0 (clock granularity); wall time must be positive.
    wall = need_samples(raw.get("samples_ms"), here, "samples_ms", positive=True)
    cpu = need_samples(raw.get("cpu_ms", []), here, "cpu_ms", positive=False)
    if not wall:
        raise ResultsError(f"{here}: has no samples_ms")
    if cpu and len(cpu) != len(wall):
        raise ResultsError(f"{here}: {len(cpu)} cpu_ms but {len(wall)} samples_ms (one of each per round)")
    if rounds and len(wall) != rounds:
        raise ResultsError(f"{here}: {len(wall)} samples but the calibration has {rounds} (one per round)")
    spec = {k: v for k, v in raw.items() if k not in ("id", "samples_ms", "cpu_ms")}
    if not isinstance(spec.get("config", {}), dict):
        raise fail(here, "config", "an object of model config overrides", spec["config"])
    return CaseResult(case_id, spec, wall, cpu)


def _parse_calibration(raw: object, where: str) -> dict:
    """The calibration's samples (every one > 0: results are divided by them) and its workload name."""
    cal = dict(need_dict(raw, where, "calibration"))
    need_str(cal.get("workload"), where, "calibration.workload", optional=True)
    wall = need_samples(cal.get("samples_ms", []), where, "calibration.samples_ms", positive=True)
    cpu = need_samples(cal.get("cpu_ms", []), where, "calibration.cpu_ms", positive=True)
    if cpu and len(cpu) != len(wall):
        raise ResultsError(f"{where}: calibration has {len(cpu)} cpu_ms but {len(wall)} samples_ms")
    return cal


def _parse_suite(raw: object, where: str) -> dict:
    suite = need_dict(raw, where, "suite")
    need_str(suite.get("name"), where, "suite.name")
    for key in ("device", "identity", "description"):
        if suite.get(key) is not None and not isinstance(suite[key], str):
            raise fail(where, f"suite.{key}", "a string", suite[key])
    if suite.get("metric", "wall") not in METRICS:
        raise fail(where, "suite.metric", f"one of {', '.join(METRICS)}", suite.get("metric"))
    return suite


def results_from_dict(doc: dict, where: str = "results") -> Results:
    """A decoded JSON document -> Results, upgrading older schemas; every field is type-checked here."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ResultsError(f"{where}: not a swinprof bench results file (kind is not {KIND!r}); run swinprof bench")
    doc = _upgrade(dict(doc), where)
    for key in ("suite", "environment", "calibration", "cases"):
        if key not in doc:
            raise ResultsError(f"{where}: missing {key!r}; the file is incomplete, re-run swinprof bench")
    calibration = _parse_calibration(doc["calibration"], where)
    if not isinstance(doc["cases"], list) or not doc["cases"]:
        raise fail(where, "cases", "a non-empty list of cases", doc["cases"])
    rounds = len(calibration.get("samples_ms") or [])
    cases = [_parse_case(c, where, rounds) for c in doc["cases"]]
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ResultsError(f"{where}: duplicate case ids {sorted({i for i in ids if ids.count(i) > 1})}")
    duration = doc.get("duration_s")
    known = {"schema_version", "kind", "suite", "environment", "calibration", "cases", "planted_slowdown", "duration_s"}
    return Results(
        suite=_parse_suite(doc["suite"], where),
        environment=need_scalars(doc["environment"], where, "environment"),
        calibration=calibration,
        cases=cases,
        planted_slowdown=need_number(doc.get("planted_slowdown", 1.0), where, "planted_slowdown", low=1.0),
        duration_s=None if duration is None else need_number(duration, where, "duration_s"),
        extra={k: v for k, v in doc.items() if k not in known},
    )


def load_results(path: str | os.PathLike) -> Results:
    """Read a results file; missing, truncated, foreign, malformed or too-new files are one clear ResultsError."""
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"results file {str(p)!r} not found; make it with: swinprof bench SUITE.toml -o {p}")
    doc = decode(read_json_text(p, "results file"), str(p))
    return results_from_dict(doc, str(p))
