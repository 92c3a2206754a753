"""`swinprof recipes`: list the preset recipe files."""

from __future__ import annotations

import argparse

from swinprof.cli._render import print_frame
from swinprof.optimize.presets import recipe_dirs, recipe_table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("recipes", help="list the preset recipes (quantize/compile/deploy and benchmark suites)")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    return p


def run(args: argparse.Namespace) -> int:
    where = ", ".join(str(d) for d in recipe_dirs())
    print_frame(recipe_table(), title=f"Preset recipes ({where})", fmt=args.format)
    return 0
