"""`swinprof models`: the variant table."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from swinprof.cli import _options as o
from swinprof.cli._render import emit

if TYPE_CHECKING:
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


# What the command answers (README: "the variants, params, GMACs, paper top-1"): kept on screen at any width; the
# architecture columns fold first, the names of checkpoints last.
HEADLINE = ("name", "params (M)", "GMACs", "top-1")
SECONDARY = ("version", "res", "window", "pretrain", "embed", "depths", "heads")


def models_report() -> Report:
    from swinprof.models.table import variant_table
    from swinprof.report.document import Report

    table = variant_table()
    report = Report("swinprof models")
    report.add("variants", f"{len(table)} registered Swin variants", table,
               ["params (M): parameters, millions (non-persistent buffers excluded); GMACs: multiply-adds of one "
                "image at its resolution, aten-level count (the papers' 'FLOPs'); top-1: the paper's ImageNet-1K "
                "figure, not measured here (blank: trained by swinprof, see train-digits)"],
               essential=HEADLINE, secondary=SECONDARY)  # fmt: skip
    return report


def run(args: argparse.Namespace) -> int:
    emit(models_report(), args.format, args.output, "models")
    return 0
