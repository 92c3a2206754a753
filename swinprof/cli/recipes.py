"""`swinprof recipes`: the preset recipe files, and the registered runtimes and quantization methods."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli._render import emit
from swinprof.optimize.presets import method_table, recipe_dirs, recipe_table
from swinprof.report.document import Report


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "recipes",
        help="list the preset recipes (quantize/compile/deploy and benchmark suites)",
        description="List every preset recipe and benchmark suite with what it does, and the quantization "
        "methods a recipe can name. Example: swinprof recipes --format markdown",
    )
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    where = ", ".join(str(d) for d in recipe_dirs())
    report = Report("swinprof recipes")
    report.add("presets", f"Preset recipes ({where})", recipe_table(), "run one with `swinprof run NAME`")
    report.add("methods", "Quantization methods ([quantize] method)", method_table(),
               "extra: pip install 'swinprof[extra]'; calibrated methods read [quantize.calibration]")  # fmt: skip
    emit(report, args.format, args.output, "recipes")
    return 0
