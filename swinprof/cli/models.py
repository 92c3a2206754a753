"""`swinprof models`: the variant table."""

from __future__ import annotations

import argparse

from swinprof.cli._render import FORMATS, show_report
from swinprof.models.table import variant_table
from swinprof.report.document import Report


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models",
        help="list every model variant with its reference numbers",
        description="Every registered Swin v1/v2 variant: resolution, window, embed dim, depths, heads, params, "
        "aten-level GMACs and the paper's top-1. Example: swinprof models --format markdown",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    return p


def run(args: argparse.Namespace) -> int:
    report = Report("Swin variants")
    report.add("variants", "Swin variants (params and GMACs: one image, aten-level count)", variant_table())
    show_report(report, args.format)
    return 0
