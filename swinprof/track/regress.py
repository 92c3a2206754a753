"""Compare a results file against a baseline, case by case, and say what changed around the measurement."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from swinprof.errors import ResultsError
from swinprof.measure.stats import IMPROVEMENT, REGRESSION, UNCERTAIN, UNCHANGED, Decision, compare_samples, normalise
from swinprof.track.results import Results

NORMALISATIONS = ("round", "run", "none")
METRICS = ("wall", "cpu")
# Environment keys that always differ between runs and say nothing about comparability.
_ENV_SKIP = {"timestamp"}


@dataclass(frozen=True)
class CaseComparison:
    case_id: str
    base_median_ms: float
    new_median_ms: float
    decision: Decision


def cpu_difference(base_env: dict, new_env: dict) -> tuple[str, str] | None:
    """(short, full) reason why two results files may not come from the same CPU, or None when they match: the
    model name, and the instruction-set features (a file that lacks them cannot show a match: one CPU name covers
    AVX2-only and AVX-512 VNNI machines). Latency ratios across different CPUs measure the machines, not the
    code, so a verdict across them is informational."""
    base_cpu, new_cpu = base_env.get("cpu") or "unknown", new_env.get("cpu") or "unknown"
    if base_cpu != new_cpu or "unknown" in (base_cpu, new_cpu):
        return "CPUs differ", f"the CPUs differ (baseline: {base_cpu}; current: {new_cpu})"
    base_f, new_f = base_env.get("cpu_features") or "", new_env.get("cpu_features") or ""
    if not base_f or not new_f:
        missing = "baseline" if not base_f else "current"
        return "CPU match not shown", f"the {missing} file does not record its CPU features (both: {new_cpu})"
    if base_f != new_f:
        return "CPUs differ", f"the CPUs differ in features (baseline: {base_f}; current: {new_f})"
    return None


@dataclass
class Comparison:
    """A whole regress run: one decision per case, the environment diff and anything the reader must know."""

    suite_name: str
    threshold: float
    alpha: float
    normalisation: str
    metric: str
    cases: list[CaseComparison]
    env_diff: list[tuple[str, object, object]]
    base_env: dict
    new_env: dict
    warnings: list[str] = field(default_factory=list)
    accuracy: list = field(default_factory=list)  # track.fidelity.AccuracyChange per case with fidelity
    top1: list = field(default_factory=list)  # track.accuracy_drop.AccuracyDrop per case with top-1 accuracy

    @property
    def accuracy_regressions(self) -> list:
        return [c for c in self.accuracy if c.regression]

    @property
    def top1_regressions(self) -> list:
        return [d for d in self.top1 if d.verdict == REGRESSION]

    def count(self, verdict: str) -> int:
        return sum(c.decision.verdict == verdict for c in self.cases)

    @property
    def verdict(self) -> str:
        """The worst case decides: any regression (latency or fidelity), else any uncertain, else any
        improvement, else unchanged."""
        if self.accuracy_regressions or self.top1_regressions:
            return REGRESSION
        for v in (REGRESSION, UNCERTAIN, IMPROVEMENT):
            if self.count(v) or any(d.verdict == v for d in self.top1):
                return v
        return UNCHANGED

    @property
    def has_regression(self) -> bool:
        return self.count(REGRESSION) > 0 or bool(self.accuracy_regressions) or bool(self.top1_regressions)


def check_same_suite(base: Results, new: Results) -> None:
    """Raise ResultsError unless both files measured the same cases of the same suite."""
    if base.suite_name != new.suite_name:
        raise ResultsError(
            f"suites do not match: baseline is {base.suite_name!r}, current is {new.suite_name!r}; "
            "compare results of the same suite file"
        )
    base_ids, new_ids = [c.id for c in base.cases], [c.id for c in new.cases]
    if set(base_ids) != set(new_ids):
        only_base, only_new = sorted(set(base_ids) - set(new_ids)), sorted(set(new_ids) - set(base_ids))
        raise ResultsError(
            f"suite {base.suite_name!r} changed: only in baseline {only_base}, only in current {only_new}; "
            "re-run the baseline with the current suite"
        )
    if base.suite.get("device") != new.suite.get("device"):
        raise ResultsError(f"baseline ran on {base.suite.get('device')}, current on {new.suite.get('device')}")
    for b in base.cases:
        if b.spec.get("config") != new.case(b.id).spec.get("config"):
            raise ResultsError(f"case {b.id!r} has a different model config in the two files; re-run the baseline")


def environment_diff(base: dict, new: dict) -> list[tuple[str, object, object]]:
    """`(key, baseline, current)` for every environment entry that differs (timestamps excluded)."""
    keys = [k for k in dict.fromkeys([*base, *new]) if k not in _ENV_SKIP]
    return [(k, base.get(k), new.get(k)) for k in keys if base.get(k) != new.get(k)]


def _samples(results: Results, case_id: str, metric: str, mode: str) -> list[float]:
    return normalise(results.case(case_id).samples(metric), results.calibration_samples(metric), mode)


def default_metric(base: Results, new: Results) -> str:
    """The suite's metric when both files have its samples, else wall time."""
    metric = new.suite.get("metric", "wall")
    has = all(c.samples(metric) for r in (base, new) for c in r.cases)
    return metric if has else "wall"


def compare_results(
    base: Results,
    new: Results,
    threshold: float = 0.05,
    alpha: float = 0.01,
    normalisation: str = "round",
    min_samples: int = 10,
    metric: str | None = None,
    sqnr_db: float = 1.0,
    top1_points: float = 1.0,
    acc_points: float = 1.0,
) -> Comparison:
    """Decide every case of `new` against `base` (see stats.compare_samples for the rule).

    `metric`: `wall` (latency) or `cpu` (process CPU time); default: the suite's. `normalisation`: divide
    by the calibration workload per round, per run, or not at all. Cases that carry `fidelity` also regress
    when their SQNR falls by more than `sqnr_db` dB or their top-1 agreement by more than `top1_points` points;
    cases that carry `accuracy` regress when top-1 falls by more than `acc_points` points AND significantly
    (`track.accuracy_drop`, at the level `alpha`; paired by image id where both files allow it, and a warning
    says why where they do not). The latency ratio is the Hodges-Lehmann estimate with its rank interval.
    """
    from swinprof.track.accuracy_drop import compare_accuracy, pairing_warnings
    from swinprof.track.fidelity import compare_fidelity

    metric = metric or default_metric(base, new)
    if metric not in METRICS:
        raise ResultsError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if normalisation not in NORMALISATIONS:
        raise ResultsError(f"unknown normalisation {normalisation!r}; choose one of: {', '.join(NORMALISATIONS)}")
    if not 0 < threshold < 1:
        raise ResultsError(f"threshold must be between 0% and 100%, got {threshold:.1%}")
    check_same_suite(base, new)
    for label, r in (("baseline", base), ("current", new)):
        if not all(c.samples(metric) for c in r.cases):
            raise ResultsError(f"the {label} file has no {metric} samples (CPU time is not recorded on CUDA)")
    warnings = []
    if normalisation != "none" and base.calibration.get("workload") != new.calibration.get("workload"):
        warnings.append("the two runs used different calibration workloads: compared raw milliseconds")
        normalisation = "none"
    if normalisation != "none" and not (base.calibration_samples(metric) and new.calibration_samples(metric)):
        warnings.append("a file has no calibration samples: compared raw milliseconds")
        normalisation = "none"
    for label, r in (("baseline", base), ("current", new)):
        if r.planted_slowdown != 1.0:
            warnings.append(f"the {label} run has a PLANTED slowdown x{r.planted_slowdown:g} (a detector test)")
    if base.calibration_ms and new.calibration_ms:
        speed = statistics.median(new.calibration_ms) / statistics.median(base.calibration_ms)  # wall: load too
        if abs(speed - 1) > 0.25:
            warnings.append(
                f"the calibration workload took x{speed:.2f} the baseline's wall time: a different or busier machine"
            )
    cases = []
    for b in base.cases:
        decision = compare_samples(
            _samples(base, b.id, metric, normalisation), _samples(new, b.id, metric, normalisation),
            threshold, alpha, min_samples,
        )  # fmt: skip
        base_ms, new_ms = statistics.median(b.samples(metric)), statistics.median(new.case(b.id).samples(metric))
        cases.append(CaseComparison(b.id, base_ms, new_ms, decision))
    top1 = compare_accuracy(base, new, acc_points, alpha)
    warnings += pairing_warnings(top1)
    return Comparison(
        base.suite_name, threshold, alpha, normalisation, metric, cases,
        environment_diff(base.environment, new.environment), base.environment, new.environment, warnings,
        compare_fidelity(base, new, sqnr_db, top1_points), top1,
    )  # fmt: skip
