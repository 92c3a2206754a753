"""`swinprof models`: the variant table."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli._render import emit
from swinprof.models.table import variant_table
from swinprof.report.document import Report


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models",
        help="list every model variant with its reference numbers",
        description="Every registered Swin v1/v2 variant: resolution, window, embed dim, depths, heads, params, "
        "aten-level GMACs and the paper's top-1. Example: swinprof models --format markdown",
    )
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    report = Report("Swin variants")
    report.add("variants", "Swin variants (params and GMACs: one image, aten-level count)", variant_table())
    emit(report, args.format, args.output, "models")
    return 0
