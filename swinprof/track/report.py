"""Regression and history reports: DataFrames for the terminal, markdown for a CI job summary or PR comment."""

from __future__ import annotations

import math

import pandas as pd

from swinprof.measure.stats import IMPROVEMENT, REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.report.document import Report
from swinprof.report.render import format_cell
from swinprof.track.history import Step, latest_change, metric_prefix, step_changes, value_of
from swinprof.track.regress import Comparison, cpu_difference

SPARK = "▁▂▃▄▅▆▇█"
_NORMALISATION_TEXT = {
    "round": "normalised per round by the calibration workload",
    "run": "normalised by the run's median calibration",
    "none": "not normalised",
}


def sparkline(values: list[float]) -> str:
    """A one-line text plot of a series (NaN as a space): renders in any markdown viewer."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    return "".join(" " if math.isnan(v) else SPARK[min(int((v - lo) / span * len(SPARK)), len(SPARK) - 1)]
                   for v in values)  # fmt: skip


def comparison_frame(cmp: Comparison) -> pd.DataFrame:
    """One row per case: medians (ms, the compared metric), ratio with its interval, p-value, verdict, why."""
    rows = []
    for c in cmp.cases:
        d = c.decision
        rows.append({
            "case": c.case_id,
            f"baseline {cmp.metric} ms": c.base_median_ms,
            f"current {cmp.metric} ms": c.new_median_ms,
            "ratio": "" if math.isnan(d.ratio) else f"{d.ratio:.3f}",
            "95% CI": "" if math.isnan(d.ci_low) else f"{d.ci_low:.3f}-{d.ci_high:.3f}",
            "p": "" if math.isnan(d.p_value) else f"{d.p_value:.2g}",
            "verdict": d.verdict,
            "why": d.reason,
        })  # fmt: skip
    return pd.DataFrame(rows)


def environment_frame(cmp: Comparison) -> pd.DataFrame:
    return pd.DataFrame([{"": k, "baseline": format_cell(b), "current": format_cell(n)} for k, b, n in cmp.env_diff])


def summary_line(cmp: Comparison) -> str:
    counts = ", ".join(f"{cmp.count(v)} {v}" for v in (REGRESSION, UNCERTAIN, IMPROVEMENT, UNCHANGED))
    return (
        f"{counts} of {len(cmp.cases)} cases (threshold {cmp.threshold:.1%}, Mann-Whitney U alpha {cmp.alpha:g}, "
        f"metric {cmp.metric}, {_NORMALISATION_TEXT[cmp.normalisation]})"
    )


def _run_label(env: dict) -> str:
    sha = env.get("git_sha") or "unknown commit"
    dirty = " (dirty)" if env.get("git_dirty") else ""
    return f"`{sha[:10]}`{dirty} at {env.get('timestamp', '?')}"


def case_history(entries: list[dict], suite: str, case_id: str, key: str) -> list[float]:
    return [value_of(e, case_id, key) for e in entries if e["suite"] == suite]


def regression_report(
    cmp: Comparison,
    report_only: bool = False,
    history: list[dict] | None = None,
    plot_path: str | None = None,
) -> Report:
    """The regress result as a Report (terminal, job summary / PR comment markdown, json, html)."""
    verdict = cmp.verdict
    cpus = cpu_difference(cmp.base_env, cmp.new_env)
    qualifiers = [q for q in ("report-only" if report_only else "", f"informational: {cpus[0]}" if cpus else "") if q]
    headline = verdict.upper() + (f" ({'; '.join(qualifiers)})" if qualifiers else "")
    report = Report(f"swinprof latency report: {cmp.suite_name}: {headline}")  # the CI log's verdict line
    report.settings["verdict"] = f"{headline}: {summary_line(cmp)}"
    if report_only:
        report.settings["mode"] = "report-only: this job does not fail on a regression"
    report.warnings.extend(cmp.warnings)
    if cpus:
        report.warnings.append(f"{cpus[1]}: the verdict is informational (compare against a baseline from this CPU)")
    frame = comparison_frame(cmp)
    if history:
        # the sparkline shows what was decided on: calibration-normalised unless normalisation was turned off
        key = f"{metric_prefix(cmp.metric)}median_ms" if cmp.normalisation == "none" else f"{cmp.metric}_norm"
        frame["history"] = [sparkline(case_history(history, cmp.suite_name, c.case_id, key)) for c in cmp.cases]
    note = (
        f"Medians are raw {cmp.metric} ms; ratio = current / baseline, the Hodges-Lehmann estimate (median of "
        f"all pairwise ratios) of the compared samples ({_NORMALISATION_TEXT[cmp.normalisation]}; > 1 is slower), "
        "with its 95% rank interval; p is the two-sided Mann-Whitney U test."
    )
    report.add("cases", "Per case", frame, note, essential=("case", "ratio", "verdict", "why"),
               secondary=(f"current {cmp.metric} ms", f"baseline {cmp.metric} ms", "95% CI", "p"))  # fmt: skip
    if cmp.accuracy:
        from swinprof.track.fidelity import accuracy_frame

        report.add("accuracy", "Fidelity vs fp32 per case", accuracy_frame(cmp.accuracy),
                   "drop = baseline - current (SQNR in dB, top-1 agreement in percentage points); a drop past the "
                   "limit is a regression")  # fmt: skip
        report.warnings.extend(f"{c.case_id}: {c.key} fell {c.drop:.2f} {c.unit} (limit {c.limit:g})"
                               for c in cmp.accuracy_regressions)  # fmt: skip
    if cmp.top1:
        from swinprof.track.accuracy_drop import accuracy_drop_frame

        report.add("top1", "Top-1 accuracy per case", accuracy_drop_frame(cmp.top1),
                   f"drop = baseline - current top-1 in points; a regression needs drop > limit AND p < {cmp.alpha:g}; "
                   "interval: Newcombe 95% (paired by image id when both files carry per-image correctness and "
                   "ids)")  # fmt: skip
        report.warnings.extend(f"{d.case_id}: top-1 fell {d.drop:.2f} pt, p={d.p_value:.2g} (limit {d.threshold:g} pt)"
                               for d in cmp.top1_regressions)  # fmt: skip
    runs = [f"baseline: {_run_label(cmp.base_env)}", f"current: {_run_label(cmp.new_env)}"]
    if cmp.env_diff:
        report.add("environment_diff", "Environment differences", environment_frame(cmp), runs,
                   essential=("", "baseline", "current"))  # fmt: skip
    else:
        report.add("environment_diff", "Environment", None,
                   [*runs, "Same environment (torch, CPU/GPU, threads, git state) apart from the time."])  # fmt: skip
    if history:
        n = sum(e["suite"] == cmp.suite_name for e in history)
        steps = steps_frame(history, cmp.suite_name, cmp.threshold)
        head = f"{n} runs of `{cmp.suite_name}` in the history; steps found in the calibration-normalised metric."
        if steps.empty:
            report.add("steps", "History", None, head + f" No step changes beyond {cmp.threshold:.0%}.")
        else:
            report.add("steps", "History: step changes", steps, head)
    if plot_path:
        report.notes.append(f"![latency history]({plot_path})")
    return report


def _history_label(entry: dict, index: int) -> str:
    """`#3 1a2b3c4d5e*`: position in the history plus the commit (runs of one commit stay distinguishable)."""
    sha = (entry.get("git_sha") or "?")[:10] + ("*" if entry.get("git_dirty") else "")
    return f"#{index} {sha}"


def history_frame(entries: list[dict], suite: str) -> pd.DataFrame:
    """One row per history entry of `suite`: each case's calibration-normalised median (what `regress` and the
    step detection decide on) with its raw median (ms) beside it, in the suite's metric."""
    rows = []
    mine = [e for e in entries if e["suite"] == suite]
    metric = mine[-1].get("metric", "wall") if mine else "wall"
    raw_key = f"{metric_prefix(metric)}median_ms"
    for i, e in enumerate(mine, 1):
        row = {"run": _history_label(e, i), "timestamp": e.get("timestamp")}
        for cid, c in e["cases"].items():
            row[f"{cid} {metric}/cal"] = c.get(f"{metric}_norm")
            row[f"{cid} {metric} ms"] = c.get(raw_key)
        slow = e.get("planted_slowdown", 1.0)
        row["note"] = f"PLANTED x{slow:g}" if slow != 1.0 else ""
        rows.append(row)
    return pd.DataFrame(rows)


def steps_frame(entries: list[dict], suite: str, threshold: float = 0.05) -> pd.DataFrame:
    """Every step change of every case of `suite`, found in the calibration-normalised metric, plus the latest
    run when it lies beyond all of the runs before it (one run: a candidate, to be confirmed by the next)."""
    rows = []
    mine = [e for e in entries if e["suite"] == suite]
    metric = mine[-1].get("metric", "wall") if mine else "wall"
    case_ids = list(dict.fromkeys(cid for e in mine for cid in e["cases"]))
    for cid in case_ids:
        series = case_history(entries, suite, cid, f"{metric}_norm")
        idx = [i for i, v in enumerate(series) if not math.isnan(v)]
        values = [series[i] for i in idx]
        for s in step_changes(values, threshold):
            rows.append(_step_row(cid, s, mine[idx[s.index]], idx[s.index] + 1, metric, "step"))
        last = latest_change(values, threshold)
        if last is not None:
            rows.append(_step_row(cid, last, mine[idx[-1]], idx[-1] + 1, metric, "latest run (confirm)"))
    return pd.DataFrame(rows, columns=["case", "kind", "at run", "timestamp", "metric", "change %", "direction"])


def _step_row(case_id: str, step: Step, entry: dict, index: int, metric: str, kind: str) -> dict:
    return {
        "case": case_id,
        "kind": kind,
        "at run": _history_label(entry, index),
        "timestamp": entry.get("timestamp"),
        "metric": f"{metric} / calibration",
        "change %": round((step.ratio - 1) * 100, 1),
        "direction": "slower" if step.ratio > 1 else "faster",
    }
