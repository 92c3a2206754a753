"""`swinprof attention`: compare the shifted-window attention implementations on one model."""

from __future__ import annotations

import argparse

from swinprof.cli._render import FORMATS, emit, err_console
from swinprof.errors import SwinprofError
from swinprof.models import get_variant
from swinprof.report.files import ensure_writable_dir
from swinprof.studies.attention import attention_report, compare_attention


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "attention",
        help="compare attention implementations: error, latency, memory, speedup",
        description="Run every shifted-window attention implementation on one model and input: max error of the "
        "logits vs reference, latency of one block per stage and of the whole model (interleaved), tensor peak, "
        "speedup. Example: swinprof attention swin_t --res 224 --batch 1,8 --impl reference,fused",
    )
    p.add_argument("variant", help="model variant, e.g. swin_t (see `swinprof models`)")
    p.add_argument("--res", type=int, default=None, help="input resolution (default: the variant's)")
    p.add_argument("--batch", default="8", help="images per forward; several comma-separated (1,8): one table each "
                   "(default 8)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="model dtype (default fp32)")
    p.add_argument("--backward", action="store_true", help="time forward + backward instead of forward")
    p.add_argument("--impl", default=None, help="comma-separated implementations (default: all registered)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per implementation first (default 2)")
    p.add_argument("--iters", type=int, default=10, help="interleaved rounds for the full-model timing")
    p.add_argument("--block-iters", type=int, default=None, help="rounds per block timing (default: --iters)")
    p.add_argument("--output", default=None, help="also write the report (md, csv, json, html) into this folder")
    p.add_argument("--format", choices=FORMATS, default="table", help="what to print on stdout (default table)")
    return p


def _stem(args: argparse.Namespace, res: int) -> str:
    mode = "_bwd" if args.backward else ""
    batches = "-".join(map(str, _batches(args.batch)))
    return f"attention_{args.variant}_{res}_b{batches}_{args.device.split(':')[0]}{mode}"


def _batches(text: str) -> list[int]:
    try:
        batches = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise SwinprofError(f"--batch {text!r}: give one or more comma-separated batch sizes of at least 1, e.g. 1,8")
    return list(dict.fromkeys(batches))


def run(args: argparse.Namespace) -> int:
    res = args.res or get_variant(args.variant).config.img_size
    batches = _batches(args.batch)
    if args.iters < 1 or args.warmup < 0:
        raise SwinprofError("--iters must be at least 1 and --warmup at least 0")
    impls = [s.strip() for s in args.impl.split(",") if s.strip()] if args.impl else None
    if args.output:
        ensure_writable_dir(args.output)  # fail before minutes of measuring, not after
    results = []
    with err_console.status("measuring") as status:
        for batch in batches:
            results.append(compare_attention(
                args.variant, res, batch, args.device, args.dtype, args.backward, impls, args.warmup, args.iters,
                args.block_iters, on_progress=lambda msg, b=batch: status.update(f"batch {b}: {msg}"),
            ))  # fmt: skip
    emit(attention_report(results), args.format, args.output, _stem(args, res))
    return 0
