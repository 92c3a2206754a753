"""`swinprof quantize MODEL --method M [--compile MODE]`: a one-off recipe built from flags."""

from __future__ import annotations

import argparse
import copy

from swinprof.cli import _validate as v
from swinprof.cli._recipe_run import add_common, execute

COMPILE_MODES = ["none", "default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "quantize",
        help="quantize (and optionally compile) a model and compare it with fp32 eager",
        description="Shortcut for `swinprof run` with a recipe made from the flags. "
        "Example: swinprof quantize swin_s --method int8-weight-only",
    )
    p.add_argument("variant", metavar="MODEL", type=v.variant, help="variant name, e.g. swin_s")
    p.add_argument("--method", required=True, type=v.quantization_method,
                   help="quantization method (`swinprof recipes` lists them)")  # fmt: skip
    p.add_argument("--compile", dest="compile_mode", choices=COMPILE_MODES, default="none", help="inductor mode")
    p.add_argument("--calib-count", type=v.positive_int, default=32,
                   help="calibration images/inputs for static methods")  # fmt: skip
    add_common(p, model_flag=False)
    return p


def recipe_from_args(args: argparse.Namespace):
    """A recipe from the flags, starting from the tables the method suggests (its registered `suggested`)."""
    from swinprof.optimize.methods import ANY_RUNTIME, get_method
    from swinprof.optimize.recipe import parse_recipe

    spec = get_method(args.method).spec
    data = copy.deepcopy(spec.suggested)
    data["meta"] = {"name": args.method + ("" if args.compile_mode == "none" else f"+{args.compile_mode}")}
    data["model"] = {"name": args.variant}
    data.setdefault("target", {}).update({
        "device": args.device or spec.devices[0],
        "runtime": "pytorch" if spec.runtime == ANY_RUNTIME else spec.runtime,
    })  # fmt: skip
    data["quantize"] = {"method": args.method, "calibration": {"count": args.calib_count}}
    if args.compile_mode != "none":
        # Freezing is what lets inductor prepack int8 weights on CPU; harmless for inference elsewhere.
        data["compile"] = {"backend": "inductor", "mode": args.compile_mode, "freezing": True}
    return parse_recipe(data, source="quantize flags")


def run(args: argparse.Namespace) -> int:
    args.model = None  # the positional MODEL is the recipe's model
    return execute([recipe_from_args(args)], args)
