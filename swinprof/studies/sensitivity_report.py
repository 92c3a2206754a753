"""A sensitivity ranking as one Report: the ranked table, what every layer quantized scores, and the chart."""

from __future__ import annotations

import math

from swinprof.measure.environment import environment
from swinprof.report.chart import ranking_svg
from swinprof.report.document import Chart, Report
from swinprof.studies.sensitivity import COLUMN, SensitivityPlan, SensitivityRun

RANDOM_WEIGHTS_NOTE = (
    "random weights: activation outliers (which make fc2 and patch merging sensitive in trained checkpoints) "
    "are rare; rank a real checkpoint with --weights and --data"
)


def sensitivity_report(ran: SensitivityRun, plan: SensitivityPlan, title: str | None = None) -> Report:
    """The Report of one ranking (`ran`) made as `plan` asked; the title defaults to model, recipe, mode, group."""
    result, recipe = ran.result, ran.recipe
    column = COLUMN[result.metric]
    title = title or f"swinprof sensitivity: {plan.variant} with {recipe.name} ({result.mode}, per {result.group})"
    report = Report(title, environment=environment("cpu"))
    report.settings = {"model": plan.variant, "recipe": recipe.name, "method": recipe.quantize.method,
                       "metric": result.metric, "group": result.group, "mode": result.mode,
                       "probe inputs": ran.probe_source, "weights": plan.weights or "random init",
                       "model config": dict(plan.model_config) or "as the variant",
                       "layers ranked": len(result.layers), "prepare s": round(ran.prepare_s, 1),
                       "ranking s": round(result.seconds, 1)}  # fmt: skip
    how = ("only this group quantized, the rest fp32; lowest first" if result.mode == "only"
           else "everything quantized except this group; gain = its score minus the fully quantized score, "
                "largest first")  # fmt: skip
    quantized = ", ".join(f"{k} {v:.4g}" for k, v in result.quantized.items())
    # json has no NaN / inf: a score that is not finite (+inf dB when the logits did not change) is written as null.
    frame = result.frame.map(lambda v: None if isinstance(v, float) and not math.isfinite(v) else v)
    report.add("sensitivity", f"Sensitivity by {result.group} ({result.metric})", frame, [
        f"score: logits vs fp32 eager on the probe inputs; {how}",
        "sqnr_db = 10 log10(signal / noise) of the logits; top1_agree = share of inputs with fp32's argmax"
        + ("; acc1 = acc@1 % on the labeled probe images" if "acc1" in result.frame else ""),
        f"every layer quantized: {quantized}",
    ])  # fmt: skip
    report.notes.extend(ran.notes)
    if plan.weights is None:
        report.notes.append(RANDOM_WEIGHTS_NOTE)
    x = "gain" if result.mode == "all-but" else column
    labels, values = list(result.frame["group"]), [v if math.isfinite(v) else 0.0 for v in result.frame[x]]
    report.charts.append(Chart("sensitivity", "Sensitivity ranking", lambda: ranking_svg(labels, values, x, title)))
    return report
