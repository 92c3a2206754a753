"""`swinprof reference`: check our model against transformers' Swin with the same weights (logits + speed)."""

from __future__ import annotations

import argparse

import pandas as pd

from swinprof.cli._render import console, print_frame
from swinprof.report.files import atomic_write_text
from swinprof.report.render import to_markdown
from swinprof.studies.reference import compare_with_reference


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("reference", help="compare logits and eager latency with transformers' implementation")
    p.add_argument("model", help="variant name, e.g. swin_s")
    p.add_argument("--res", type=int, default=None)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--attn", default="reference", help="comma-separated attention implementations of ours to time")
    p.add_argument("--markdown", default=None, help="also write the result as a markdown file")
    return p


def run(args: argparse.Namespace) -> int:
    impls = tuple(a.strip() for a in args.attn.split(",") if a.strip())
    result = compare_with_reference(args.model, args.res, args.batch, args.warmup, args.iters, attn_impls=impls)
    table = pd.DataFrame(result.rows())
    title = f"{result.variant} @ {result.res}, batch {result.batch}, eager fp32, CPU ({result.env['cpu']})"
    print_frame(table, title=title)
    diffs = ", ".join(f"{impl} {d:.2e}" for impl, d in result.max_abs_logit_diff.items())
    summary = (
        f"max |logit difference| vs transformers: {diffs}; speeds are median vs median, timed interleaved "
        f"(> 1 = faster than transformers)"
    )
    console.print(summary)
    if args.markdown:
        env = ", ".join(f"{k}={result.env[k]}" for k in ("torch", "cpu", "threads", "git_sha"))
        atomic_write_text(args.markdown, to_markdown(table, title) + f"\n{summary}\n\nEnvironment: {env}\n")
    return 0
