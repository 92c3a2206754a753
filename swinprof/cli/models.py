"""`swinprof models`: the variant table."""

from __future__ import annotations

import argparse

from swinprof.cli._render import print_frame
from swinprof.models.table import variant_table


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list every model variant with its reference numbers")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    return p


def run(args: argparse.Namespace) -> int:
    print_frame(variant_table(), title="Swin variants (params and GMACs: one image, aten-level count)", fmt=args.format)
    return 0
