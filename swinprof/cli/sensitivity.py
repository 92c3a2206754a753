"""`swinprof sensitivity MODEL --recipe NAME`: which layers (or groups) hurt when quantized, ranked."""

from __future__ import annotations

import argparse
import math

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console
from swinprof.studies.sensitivity import COLUMN, GROUPS, METRICS, MODES, Sensitivity

RANDOM_WEIGHTS_NOTE = (
    "random weights: activation outliers (which make fc2 and patch merging sensitive in trained checkpoints) "
    "are rare; rank a real checkpoint with --weights and --data"
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sensitivity",
        help="rank layers by how much quantizing them hurts, with a recipe's own quantizer",
        description="Prepare the recipe's quantized model once (PT2E: export, the recipe's quantizer, calibrate, "
        "convert; torchao: quantize_), then score each layer or group quantized alone (--mode only) or left in "
        "fp32 while the rest is quantized (--mode all-but), against fp32 logits on probe inputs that calibration "
        "did not see. Example: swinprof sensitivity swin_t --recipe int8-x86-cpu --format json",
    )
    p.add_argument("variant", metavar="MODEL", type=v.variant, help="variant name, e.g. swin_t")
    p.add_argument("--recipe", required=True, help="recipe file or preset (its method, quantizer and calibration)")
    p.add_argument("--res", type=v.resolution, dest="img_size", help="input resolution")
    p.add_argument("--weights", type=v.existing_file, help="checkpoint (.pth / .safetensors); default random init")
    v.add_model_config(p)
    p.add_argument(
        "--data", type=v.existing_dir, help="image folder: calibration and probe images (labeled: --metric accuracy)"
    )
    p.add_argument("--class-map", type=v.existing_file, help="folder name -> class index file for non-synset folders")
    p.add_argument("--metric", choices=METRICS, default="sqnr", help="what a layer is scored by (default sqnr)")
    p.add_argument("--group", choices=GROUPS, default="layer", help="score layers, blocks, stages or layer types")
    p.add_argument("--mode", choices=MODES, default="only",
                   help="only: quantize just the group; all-but: quantize everything except it")  # fmt: skip
    p.add_argument("--samples", type=v.positive_int, default=8, help="probe inputs scored per setting (default 8)")
    p.add_argument("--calib-count", type=v.positive_int, help="calibration inputs (default: the recipe's count)")
    p.add_argument("--recipe-layers", action="store_true",
                   help="rank only the layers the recipe quantizes (default: every Linear/Conv2d its include "
                   "selects, also those its skip keeps in fp32, e.g. patch embedding and head)")  # fmt: skip
    o.add_seed(p)
    o.add_output(p)
    p.add_argument("--title", help="report title")
    o.add_format(p)
    return p


def _report(result: Sensitivity, args, recipe, notes: list[str], probe_source: str, prepare_s: float):
    from swinprof.measure.environment import environment
    from swinprof.report.chart import ranking_svg
    from swinprof.report.document import Chart, Report

    column = COLUMN[result.metric]
    title = args.title or f"swinprof sensitivity: {args.variant} with {recipe.name} ({result.mode}, per {result.group})"
    report = Report(title, environment=environment("cpu"))
    report.settings = {"model": args.variant, "recipe": recipe.name, "method": recipe.quantize.method,
                       "metric": result.metric, "group": result.group, "mode": result.mode,
                       "probe inputs": probe_source, "weights": args.weights or "random init",
                       "model config": dict(args.model_config) or "as the variant",
                       "layers ranked": len(result.layers), "prepare s": round(prepare_s, 1),
                       "ranking s": round(result.seconds, 1)}  # fmt: skip
    how = ("only this group quantized, the rest fp32; lowest first" if result.mode == "only"
           else "everything quantized except this group; gain = its score minus the fully quantized score, "
                "largest first")  # fmt: skip
    quantized = ", ".join(f"{k} {v:.4g}" for k, v in result.quantized.items())
    frame = result.frame.map(lambda v: None if isinstance(v, float) and not math.isfinite(v) else v)
    report.add("sensitivity", f"Sensitivity by {result.group} ({result.metric})", frame, [
        f"score: logits vs fp32 eager on the probe inputs; {how}",
        "sqnr_db = 10 log10(signal / noise) of the logits; top1_agree = share of inputs with fp32's argmax"
        + ("; acc1 = acc@1 % on the labeled probe images" if "acc1" in result.frame else ""),
        f"every layer quantized: {quantized}",
    ])  # fmt: skip
    report.notes.extend(notes)
    if args.weights is None:
        report.notes.append(RANDOM_WEIGHTS_NOTE)
    x = "gain" if result.mode == "all-but" else column
    labels, values = list(result.frame["group"]), [v if math.isfinite(v) else 0.0 for v in result.frame[x]]
    report.charts.append(Chart("sensitivity", "Sensitivity ranking", lambda: ranking_svg(labels, values, x, title)))
    return report


def run(args: argparse.Namespace) -> int:
    from swinprof.studies.sensitivity import SensitivityPlan, run_sensitivity

    overrides = v.model_overrides(args.variant, args.img_size, args.model_config)
    plan = SensitivityPlan(
        variant=args.variant, recipe=args.recipe, metric=args.metric, group=args.group, mode=args.mode,
        img_size=args.img_size, weights=args.weights, model_config=tuple(overrides.items()), data=args.data,
        class_map=args.class_map, samples=args.samples, calib_count=args.calib_count,
        recipe_layers=args.recipe_layers, seed=args.seed,
    )  # fmt: skip
    say = lambda m: err_console.print(f"[dim]… {m}[/dim]")  # noqa: E731
    ran = run_sensitivity(plan, say)
    report = _report(ran.result, args, ran.recipe, ran.notes, ran.probe_source, ran.prepare_s)
    emit(report, args.format, args.output, "sensitivity")
    return 0
