"""`swinprof recipes`: the preset recipe files, and the registered runtimes and quantization methods."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "recipes",
        help="list the preset recipes (quantize/compile/deploy and benchmark suites)",
        description="List every preset recipe and benchmark suite with what it does, and the quantization "
        "methods a recipe can name. Example: swinprof recipes --format markdown",
    )
    p.add_argument("--native", action="store_true",
                   help="only the presets that run natively on this machine: the formats they compute in run on "
                   "this CPU's (or GPU's) own instructions, and what they need is installed")  # fmt: skip
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.optimize.presets import method_table, recipe_dirs, recipe_table
    from swinprof.report.document import Report

    where = ", ".join(str(d) for d in recipe_dirs())
    table, notes = recipe_table(), ["run one with `swinprof run NAME`"]
    if args.native:
        from swinprof.measure.native import native_summary
        from swinprof.optimize.candidates import NATIVE, native_presets

        keep, left_out = native_presets()
        table = table[table["name"].isin(keep)].reset_index(drop=True)
        notes += [f"native precisions of this CPU: {native_summary('cpu')}",
                  "left out: " + (", ".join(f"{n} ({why})" for n, why in left_out.items()) or "none"),
                  f"`swinprof run {NATIVE} --model M` times those offered for deployment and names the fastest "
                  "at or above a fidelity floor"]  # fmt: skip
    report = Report("swinprof recipes")
    report.add("presets", f"Preset recipes ({where})", table, notes)
    report.add("methods", "Quantization methods ([quantize] method)", method_table(),
               "extra: pip install 'swinprof[extra]'; calibrated methods read [quantize.calibration]")  # fmt: skip
    emit(report, args.format, args.output, "recipes")
    return 0
