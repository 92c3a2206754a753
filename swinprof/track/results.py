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
Sample `i` of every case and of the calibration comes from the same interleaved round `i`. Readers upgrade
older schema versions through `_MIGRATIONS` and refuse newer ones with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swinprof.errors import ResultsError
from swinprof.report.files import atomic_write_text, ensure_writable_dir

SCHEMA_VERSION = 1
KIND = "swinprof-bench-results"
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
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else ".")
    return atomic_write_text(path, json.dumps(results.to_dict(), indent=1) + "\n")


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


def _parse_case(raw: dict, where: str) -> CaseResult:
    if not isinstance(raw, dict) or "id" not in raw or "samples_ms" not in raw:
        raise ResultsError(f"{where}: every case needs an id and samples_ms")
    lists = {}
    for key in ("samples_ms", "cpu_ms"):
        samples = raw.get(key, [])
        # CPU time of a very short call can read 0 (clock granularity); wall time must be positive.
        if not isinstance(samples, list) or not all(isinstance(s, (int, float)) and s >= 0 for s in samples):
            raise ResultsError(f"{where}: case {raw['id']!r} has {key} that are not non-negative numbers")
        lists[key] = [float(s) for s in samples]
    if not lists["samples_ms"] or min(lists["samples_ms"]) <= 0:
        raise ResultsError(f"{where}: case {raw['id']!r} has no positive samples_ms")
    spec = {k: v for k, v in raw.items() if k not in ("id", "samples_ms", "cpu_ms")}
    return CaseResult(raw["id"], spec, lists["samples_ms"], lists["cpu_ms"])


def results_from_dict(doc: dict, where: str = "results") -> Results:
    """A decoded JSON document -> Results, upgrading older schemas."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ResultsError(f"{where}: not a swinprof bench results file (kind is not {KIND!r}); run swinprof bench")
    doc = _upgrade(dict(doc), where)
    for key in ("suite", "environment", "calibration", "cases"):
        if key not in doc:
            raise ResultsError(f"{where}: missing {key!r}; the file is incomplete, re-run swinprof bench")
    if not isinstance(doc["suite"], dict) or "name" not in doc["suite"]:
        raise ResultsError(f"{where}: suite has no name")
    known = {"schema_version", "kind", "suite", "environment", "calibration", "cases", "planted_slowdown", "duration_s"}
    return Results(
        suite=doc["suite"],
        environment=doc["environment"],
        calibration=doc["calibration"],
        cases=[_parse_case(c, where) for c in doc["cases"]],
        planted_slowdown=float(doc.get("planted_slowdown", 1.0)),
        duration_s=doc.get("duration_s"),
        extra={k: v for k, v in doc.items() if k not in known},
    )


def load_results(path: str | os.PathLike) -> Results:
    """Read a results file; missing, truncated, foreign or too-new files are one clear ResultsError."""
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"results file {str(p)!r} not found; make it with: swinprof bench SUITE.toml -o {p}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{p}: not valid JSON ({exc}); the file is damaged, re-run swinprof bench") from exc
    return results_from_dict(doc, str(p))
