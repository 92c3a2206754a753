"""`swinprof run RECIPE [RECIPE ...]`: run recipes against the fp32 eager baseline and write a record; `native`
stands for every recipe that runs natively on this machine, and the report ends with the one to deploy."""

from __future__ import annotations

import argparse

from swinprof.cli import _validate as v
from swinprof.cli._recipe_run import add_common, execute
from swinprof.optimize.candidates import NATIVE, expand_recipes
from swinprof.studies.deploy_choice import DEFAULT_MAX_ACC_DROP, DEFAULT_MIN_SQNR_DB, DeployQuestion, Floor


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run quantize/compile/deploy recipes and compare them with fp32 eager",
        description="Apply each recipe (a TOML file or a preset name from `swinprof recipes`) to the model, then "
        "compare with fp32 eager: fidelity, accuracy (with --data), latency, size, memory (tensor peak of one "
        "forward; process peak of a fresh process per recipe and batch size), what torch.compile did. Several "
        "recipes are timed side by side in one run; the report, record.json, resolved recipes and artifacts are "
        "published into --output as one unit; it ends with the fastest recipe at or above the fidelity floor per "
        f"batch size. `{NATIVE}` stands for every recipe the registered runtimes and methods offer for deployment "
        "that runs natively on this machine (`swinprof recipes --native`). Examples: swinprof run fp32-eager "
        f"compile-inductor int8-x86-cpu --model swin_s; swinprof run {NATIVE} --model swin_t --min-sqnr 30",
    )
    p.add_argument("recipes", nargs="+", metavar="RECIPE",
                   help=f"recipe file or preset name; {NATIVE}: the candidates that run natively here")  # fmt: skip
    add_common(p)
    p.add_argument("--min-sqnr", type=v.finite_float(0.0, open_low=True), default=DEFAULT_MIN_SQNR_DB, metavar="DB",
                   help="fidelity floor of the recipe to deploy: SQNR of its logits vs fp32 eager, dB "
                   f"(default {DEFAULT_MIN_SQNR_DB:g})")  # fmt: skip
    p.add_argument("--max-acc-drop", type=v.finite_float(0.0, 100.0), default=DEFAULT_MAX_ACC_DROP, metavar="PT",
                   help="with --data on labeled images: the largest acc@1 drop below fp32 eager, in points, of the "
                   f"recipe to deploy (default {DEFAULT_MAX_ACC_DROP:g})")  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    device = args.device.split(":")[0] if args.device else None
    recipes, candidates = expand_recipes(args.recipes, device)
    args.question = DeployQuestion(Floor(args.min_sqnr, args.max_acc_drop), candidates)
    return execute(recipes, args)
