"""`swinprof reference`: check our model against transformers' Swin with the same weights (logits + speed)."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reference",
        help="compare logits and eager latency with transformers' implementation",
        description="Load the same random weights into swinprof's model and Hugging Face transformers' Swin / "
        "Swinv2, compare the logits and time both interleaved. Example: swinprof reference swin_s "
        "--attn reference,fused",
    )
    p.add_argument("model", type=v.variant, help="variant name, e.g. swin_s")
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (default: the variant's)")
    o.add_batch(p, 1)
    p.add_argument("--warmup", type=v.non_negative_int, default=3, help="untimed calls per model first (default 3)")
    p.add_argument("--iters", type=v.positive_int, default=20, help="interleaved timed rounds (default 20)")
    p.add_argument("--attn", type=v.attention_names, default=["reference"],
                   help="comma-separated attention implementations of ours to time")  # fmt: skip
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    # Ours and transformers' model are held at once: two copies of the weights.
    from swinprof.studies.reference import compare_with_reference

    v.check_memory(args.model, args.res, args.batch, copies=2, what="reference")
    result = compare_with_reference(args.model, args.res, args.batch, args.warmup, args.iters,
                                    attn_impls=tuple(args.attn))  # fmt: skip
    emit(result.report(), args.format, args.output, f"reference_{result.variant}_{result.res}_b{result.batch}_cpu")
    return 0
