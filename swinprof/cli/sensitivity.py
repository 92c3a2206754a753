"""`swinprof sensitivity MODEL --recipe NAME`: which layers (or groups) hurt when quantized, ranked."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console
from swinprof.ranks import join, leave
from swinprof.studies.sensitivity_terms import GROUPS, METRICS, MODES


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
    p.add_argument("--labels", type=v.existing_file, metavar="FILE",
                   help="labels of a flat --data folder (ImageNet's validation layout; see `swinprof run --help`)")
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


def run(args: argparse.Namespace) -> int:
    from swinprof.studies.sensitivity import SensitivityPlan, run_sensitivity
    from swinprof.studies.sensitivity_report import sensitivity_report

    overrides = v.model_overrides(args.variant, args.img_size, args.model_config)
    plan = SensitivityPlan(
        variant=args.variant, recipe=args.recipe, metric=args.metric, group=args.group, mode=args.mode,
        img_size=args.img_size, weights=args.weights, model_config=tuple(overrides.items()), data=args.data,
        class_map=args.class_map, samples=args.samples, calib_count=args.calib_count,
        recipe_layers=args.recipe_layers, seed=args.seed, labels=args.labels,
    )  # fmt: skip
    ranks = join("cpu")  # sensitivity runs on the CPU; under torchrun its per-layer probes are split over ranks
    try:
        say = (lambda m: err_console.print(f"[dim]… {m}[/dim]")) if ranks.main else (lambda _m: None)
        ran = run_sensitivity(plan, say, ranks)
        if ranks.main:
            emit(sensitivity_report(ran, plan, args.title), args.format, args.output, "sensitivity")
    finally:
        leave(ranks)
    return 0
