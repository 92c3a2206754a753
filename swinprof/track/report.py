"""Regression and history reports: DataFrames for the terminal, markdown for a CI job summary or PR comment."""

from __future__ import annotations

import math

import pandas as pd

from swinprof.report.render import format_cell, to_markdown
from swinprof.track.history import Step, latest_change, metric_prefix, step_changes, value_of
from swinprof.track.regress import Comparison
from swinprof.track.stats import IMPROVEMENT, REGRESSION, UNCERTAIN, UNCHANGED

SPARK = "▁▂▃▄▅▆▇█"
_VERDICT_MD = {REGRESSION: "**REGRESSION**", IMPROVEMENT: "improvement", UNCHANGED: "unchanged",
               UNCERTAIN: "uncertain, rerun"}  # fmt: skip
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


def markdown_report(
    cmp: Comparison,
    report_only: bool = False,
    history: list[dict] | None = None,
    plot_path: str | None = None,
) -> str:
    """The whole report as GitHub-flavoured markdown (job summary / PR comment)."""
    verdict = cmp.verdict
    lines = [f"## swinprof latency report: `{cmp.suite_name}`", ""]
    lines.append(f"**Verdict: {verdict.upper()}**: {summary_line(cmp)}.")
    if report_only and verdict == REGRESSION:
        lines.append("Report-only mode: this job does not fail on it.")
    lines += [""] + [f"> Warning: {w}" for w in cmp.warnings] + ([""] if cmp.warnings else [])
    frame = comparison_frame(cmp)
    frame["verdict"] = [_VERDICT_MD[v] for v in frame["verdict"]]
    if history:
        # the sparkline shows what was decided on: calibration-normalised unless normalisation was turned off
        key = f"{metric_prefix(cmp.metric)}median_ms" if cmp.normalisation == "none" else f"{cmp.metric}_norm"
        frame["history"] = [sparkline(case_history(history, cmp.suite_name, c.case_id, key)) for c in cmp.cases]
    lines += [to_markdown(frame).rstrip(), ""]
    lines += [f"Medians are raw {cmp.metric} ms; ratio = current / baseline median of the compared samples "
              f"({_NORMALISATION_TEXT[cmp.normalisation]}; > 1 is slower), with its Hodges-Lehmann 95% interval; "
              "p is the two-sided Mann-Whitney U test.", ""]  # fmt: skip
    lines += ["### Environment", "", f"- baseline: {_run_label(cmp.base_env)}", f"- current: {_run_label(cmp.new_env)}"]
    if cmp.env_diff:
        lines += ["", to_markdown(environment_frame(cmp)).rstrip()]
    else:
        lines += ["", "Same environment (torch, CPU/GPU, threads, git state) apart from the time."]
    if history or plot_path:
        lines += ["", "### History", ""]
        if plot_path:
            lines += [f"![latency history]({plot_path})", ""]
        if history:
            lines += _steps_markdown(history, cmp.suite_name, cmp.threshold)
    return "\n".join(lines).rstrip() + "\n"


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


def _steps_markdown(entries: list[dict], suite: str, threshold: float) -> list[str]:
    n = sum(e["suite"] == suite for e in entries)
    steps = steps_frame(entries, suite, threshold)
    head = f"{n} runs of `{suite}` in the history."
    if steps.empty:
        return [head + f" No step changes beyond {threshold:.0%}."]
    return [head + " Step changes:", "", to_markdown(steps).rstrip()]
