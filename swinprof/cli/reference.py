"""`swinprof reference`: check our model against transformers' Swin with the same weights (logits + speed)."""

from __future__ import annotations

import argparse

from swinprof.cli._render import FORMATS, emit
from swinprof.errors import InvalidOptionError
from swinprof.report.files import ensure_writable_dir
from swinprof.studies.reference import compare_with_reference


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reference",
        help="compare logits and eager latency with transformers' implementation",
        description="Load the same random weights into swinprof's model and Hugging Face transformers' Swin / "
        "Swinv2, compare the logits and time both interleaved. Example: swinprof reference swin_s "
        "--attn reference,fused",
    )
    p.add_argument("model", help="variant name, e.g. swin_s")
    p.add_argument("--res", type=int, default=None, help="input resolution (default: the variant's)")
    p.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per model first (default 3)")
    p.add_argument("--iters", type=int, default=20, help="interleaved timed rounds (default 20)")
    p.add_argument("--attn", default="reference", help="comma-separated attention implementations of ours to time")
    p.add_argument("--format", choices=FORMATS, default="table", help="what to print on stdout (default table)")
    p.add_argument("--output", default=None, help="also write the report (md, csv, json, html) into this folder")
    return p


def run(args: argparse.Namespace) -> int:
    impls = tuple(a.strip() for a in args.attn.split(",") if a.strip())
    if args.batch < 1 or args.iters < 1 or args.warmup < 0:
        raise InvalidOptionError("--batch and --iters must be at least 1 and --warmup at least 0")
    if args.output:
        ensure_writable_dir(args.output)  # fail before the comparison, not after
    result = compare_with_reference(args.model, args.res, args.batch, args.warmup, args.iters, attn_impls=impls)
    emit(result.report(), args.format, args.output, f"reference_{result.variant}_{result.res}_b{result.batch}_cpu")
    return 0
