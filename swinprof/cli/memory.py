"""`swinprof memory`: step memory (two meters) with activation checkpointing, sequential attention, ZeRO-1."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.errors import MemoryOptionError
from swinprof.optimize.memory_terms import MODES

if TYPE_CHECKING:
    from swinprof.optimize.memory_options import MemoryConfig


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "memory",
        help="step memory (tensor peak and process peak) and time: checkpointing, sequential attention, ZeRO-1",
        description="Run one training step (forward, cross-entropy backward, AdamW step), or with --mode infer "
        "one forward, per configuration and report two meters: the tensor peak (live tensor bytes, with its "
        "breakdown) and the process peak (peak RSS, CUDA: reserved, of a fresh process running only that "
        "configuration), step time and ratios vs the baseline. Stage numbers are 1-based (stages=1,2,3 are the "
        "first three stages). ZeRO-1: launch with `torchrun --nproc-per-node 2 -m swinprof memory MODEL --zero 1`. "
        "Example: swinprof memory swinv2_t_w8 --res 256 --batch 8 --checkpoint all,block",
    )
    p.add_argument("model", type=v.variant, help="variant name, e.g. swinv2_t_w8 (see `swinprof models`)")
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (default: the variant's)")
    v.add_model_config(p)
    o.add_batch(p, 8)
    p.add_argument("--window", type=v.positive_int, default=None, help="window size override (e.g. 16)")
    p.add_argument(
        "--checkpoint",
        metavar="SPEC",
        help="activation checkpointing: stages=1,2,3[,block] (1-based stages; 'all' for every stage; "
        "granularity stage (default) or block)",
    )
    p.add_argument(
        "--seq-attn",
        metavar="SPEC",
        help="sequential attention: chunks=4[,stages=1,2] (1-based stages, default 1,2 as in Swin v2)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="train",
        help="train: one training step per row (default); infer: one forward under inference_mode",
    )
    p.add_argument("--zero", type=int, choices=[0, 1], default=0, help="1: ZeRO-1 optimizer sharding (torchrun)")
    p.add_argument(
        "--budget", metavar="SIZE", help="find the largest batch whose training-step tensor peak fits, e.g. 8GiB"
    )
    o.add_device(p)
    p.add_argument("--iters", type=v.positive_int, default=3, help="timed steps per configuration (default 3)")
    p.add_argument("--warmup", type=v.non_negative_int, default=1, help="untimed steps per configuration (default 1)")
    o.add_output(p, "the report (md, csv, json, html) into this folder as memory_<model>_<res>_b<batch>_<device>",
                 metavar="DIR")  # fmt: skip
    o.add_format(p)
    return p


def _stage_list(text: str, what: str) -> tuple[int, ...]:
    try:
        stages = tuple(sorted({int(s) for s in text.split(",") if s.strip()}))
    except ValueError:
        raise MemoryOptionError(f"{what}: stages must be 1-based numbers like stages=1,2,3, got {text!r}") from None
    if not stages or min(stages) < 1:
        raise MemoryOptionError(f"{what}: stages are 1-based (1 = first stage), got {text!r}")
    return tuple(s - 1 for s in stages)


def parse_checkpoint(spec: str, num_stages: int) -> tuple[tuple[int, ...], str]:
    """`stages=1,2,3[,block]` or `all[,block]` -> (0-based stages, granularity)."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    granularity = "stage"
    if items and items[-1] in ("block", "stage"):
        granularity = items.pop()
    text = ",".join(items)
    if text in ("all", "stages=all", ""):
        return tuple(range(num_stages)), granularity
    if not text.startswith("stages="):
        raise MemoryOptionError(f"--checkpoint {spec!r}: write stages=1,2,3 (1-based) or all, optionally ,block")
    stages = _stage_list(text.removeprefix("stages="), "--checkpoint")
    _check_range(stages, num_stages, "--checkpoint")
    return stages, granularity


def parse_seq_attn(spec: str, num_stages: int) -> tuple[int, tuple[int, ...]]:
    """`chunks=4[,stages=1,2]` -> (chunks, 0-based stages)."""
    head, _, rest = spec.partition(",stages=")
    if not head.startswith("chunks="):
        raise MemoryOptionError(f"--seq-attn {spec!r}: write chunks=4 or chunks=4,stages=1,2 (1-based stages)")
    try:
        chunks = int(head.removeprefix("chunks="))
    except ValueError:
        raise MemoryOptionError(f"--seq-attn {spec!r}: chunks must be an integer >= 1") from None
    if chunks < 1:
        raise MemoryOptionError(f"--seq-attn: chunks must be >= 1 (1 = batched attention), got {chunks}")
    stages = _stage_list(rest, "--seq-attn") if rest else (0, 1)
    _check_range(stages, num_stages, "--seq-attn")
    return chunks, stages


def _check_range(stages: tuple[int, ...], num_stages: int, what: str) -> None:
    if max(stages) >= num_stages:
        raise MemoryOptionError(f"{what}: stage {max(stages) + 1} does not exist; stages are 1..{num_stages}")


def build_configs(args, num_stages: int) -> tuple[list[MemoryConfig], MemoryConfig]:
    """Rows to compare and the combined configuration the user asked for."""
    from swinprof.optimize.memory_options import MemoryConfig

    ckpt = parse_checkpoint(args.checkpoint, num_stages) if args.checkpoint else None
    seq = parse_seq_attn(args.seq_attn, num_stages) if args.seq_attn else None
    if ckpt is None and seq is None:
        every = tuple(range(num_stages))
        rows = [
            MemoryConfig(),
            MemoryConfig(every, "stage"),
            MemoryConfig(every, "block"),
            MemoryConfig(seq_chunks=4),
            MemoryConfig(every, "block", seq_chunks=4),
        ]
        return rows, MemoryConfig()
    alone = []
    if ckpt:
        alone.append(MemoryConfig(ckpt[0], ckpt[1]))
    if seq:
        alone.append(MemoryConfig(seq_chunks=seq[0], seq_stages=seq[1]))
    combined = MemoryConfig(*(ckpt or ((), "stage")), *(seq or (1, (0, 1))))
    rows = [MemoryConfig(), *alone] + ([combined] if len(alone) > 1 else [])
    return rows, combined


def _validate(args) -> None:
    if args.zero and args.budget:
        raise MemoryOptionError("--budget searches single-process batches; run it without --zero")
    if args.mode != "train" and (args.zero or args.budget):
        raise MemoryOptionError("--zero and --budget measure training steps; run them without --mode infer")


def run(args: argparse.Namespace) -> int:
    from swinprof.cli import _memory_run
    from swinprof.measure.device import resolve_device
    from swinprof.models.config import get_variant
    from swinprof.optimize.memory_options import ModelSpec

    _validate(args)
    variant = get_variant(args.model)
    res = args.res or variant.config.img_size
    overrides = v.model_overrides(variant.name, res, args.model_config)
    if args.window is not None:
        overrides["window_size"] = args.window
    config = variant.config.replace(img_size=res, **overrides)  # a bad resolution or window fails here, first
    batch = 1 if args.budget else args.batch  # the budget search bounds its own batches
    v.check_memory(
        variant.name, res, batch, overrides=overrides, train=args.mode == "train", what="memory", device=args.device
    )
    configs, combined = build_configs(args, config.num_stages)
    device = resolve_device(args.device)
    spec = ModelSpec(variant.name, res, overrides)
    if args.budget:
        from swinprof.optimize.memory_budget import parse_bytes

        parse_bytes(args.budget)  # a bad size fails before the model is built
        return _memory_run.run_budget(args, spec, device, combined)
    if args.zero:
        return _memory_run.run_zero(args, spec, device, combined)
    return _memory_run.run_steps(args, spec, device, configs)
