"""`swinprof run RECIPE [RECIPE ...]`: run recipes against the fp32 eager baseline and write a record."""

from __future__ import annotations

import argparse

from swinprof.cli._recipe_run import add_common, execute
from swinprof.optimize.presets import get_recipe


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run quantize/compile/deploy recipes and compare them with fp32 eager",
        description="Apply each recipe (a TOML file or a preset name from `swinprof recipes`) to the model, then "
        "compare with fp32 eager: fidelity, accuracy (with --data), latency, size, memory (tensor peak of one "
        "forward; process peak of a fresh process per recipe and batch size), what torch.compile did. Several "
        "recipes are timed side by side in one run; the report, record.json, resolved recipes and artifacts are "
        "published into --output as one unit. Example: swinprof run fp32-eager compile-inductor int8-x86-cpu "
        "--model swin_s",
    )
    p.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe file or preset name")
    add_common(p)
    return p


def run(args: argparse.Namespace) -> int:
    return execute([get_recipe(name) for name in args.recipes], args)
