"""`swinprof attention`: compare the shifted-window attention implementations on one model."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "attention",
        help="compare attention implementations: error, latency, memory, speedup",
        description="Run every shifted-window attention implementation on one model and input: max error of the "
        "logits vs reference, latency of one block per stage and of the whole model (interleaved), tensor peak, "
        "speedup. Example: swinprof attention swin_t --res 224 --batch 1,8 --impl reference,fused",
    )
    p.add_argument("variant", type=v.variant, help="model variant, e.g. swin_t (see `swinprof models`)")
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (default: the variant's)")
    v.add_model_config(p)
    o.add_batch(p, 8, "; several comma-separated (1,8): one table each", several=True)
    o.add_device(p)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="model dtype (default fp32)")
    p.add_argument("--backward", action="store_true", help="time forward + backward instead of forward")
    p.add_argument("--impl", type=v.attention_names, default=None,
                   help="comma-separated implementations (default: all registered)")  # fmt: skip
    p.add_argument("--warmup", type=v.non_negative_int, default=2, help="untimed calls per implementation first "
                   "(default 2)")  # fmt: skip
    p.add_argument("--iters", type=v.positive_int, default=10, help="interleaved rounds for the full-model timing")
    p.add_argument("--block-iters", type=v.positive_int, default=None,
                   help="rounds per block timing (default: --iters)")  # fmt: skip
    o.add_output(p)
    o.add_format(p)
    return p


def _stem(args: argparse.Namespace, res: int) -> str:
    mode = "_bwd" if args.backward else ""
    batches = "-".join(map(str, args.batch))
    return f"attention_{args.variant}_{res}_b{batches}_{args.device.split(':')[0]}{mode}"


def run(args: argparse.Namespace) -> int:
    from swinprof.models import get_variant
    from swinprof.studies.attention import attention_report, compare_attention

    res = args.res or get_variant(args.variant).config.img_size
    overrides = v.model_overrides(args.variant, res, args.model_config)
    for batch in args.batch:
        v.check_memory(args.variant, res, batch, dtype=args.dtype, train=args.backward, what="attention",
                       device=args.device, overrides=overrides)  # fmt: skip
    results = []
    with err_console.status("measuring") as status:
        for batch in args.batch:
            results.append(compare_attention(
                args.variant, res, batch, args.device, args.dtype, args.backward, args.impl, args.warmup, args.iters,
                args.block_iters, on_progress=lambda msg, b=batch: status.update(f"batch {b}: {msg}"),
                model_overrides=overrides,
            ))  # fmt: skip
    emit(attention_report(results), args.format, args.output, _stem(args, res))
    return 0
