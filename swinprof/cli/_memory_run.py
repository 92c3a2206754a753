"""The three modes of `swinprof memory` (step table, budget search, ZeRO-1): call the library, emit its Report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from swinprof.cli._render import emit, err_console

if TYPE_CHECKING:
    import torch

    from swinprof.optimize.memory_options import MemoryConfig, ModelSpec


def run_steps(args: argparse.Namespace, spec: ModelSpec, device: torch.device, configs: list[MemoryConfig]) -> int:
    """One row per configuration, both meters (process peaks in fresh processes), interleaved step times."""
    from swinprof.studies.memory import report_stem, steps_report

    with err_console.status(f"{spec.name} {spec.img_size}x{spec.img_size} batch {args.batch}, {args.mode}") as bar:
        report = steps_report(
            spec, configs, args.batch, device, args.mode, args.iters, args.warmup, args.window,
            on_progress=lambda msg: bar.update(f"{spec.name}, {args.mode}: {msg}"),
        )  # fmt: skip
    suffix = "" if args.mode == "train" else f"_{args.mode}"
    emit(report, args.format, args.output, report_stem(spec, args.batch, device, args.window, suffix))
    return 0


def run_budget(args: argparse.Namespace, spec: ModelSpec, device: torch.device, config: MemoryConfig) -> int:
    """The largest batch whose training-step tensor peak fits `--budget`."""
    from swinprof.optimize.memory_budget import largest_batch, parse_bytes
    from swinprof.studies.memory import budget_report, report_stem

    budget = parse_bytes(args.budget)
    with err_console.status(f"{spec.name} {spec.img_size}x{spec.img_size}: searching the batch for {args.budget}"):
        result = largest_batch(spec.build(device), config, spec.img_size, device, budget)
    report = budget_report(result, args.budget, config, spec, device, args.window)
    emit(report, args.format, args.output, report_stem(spec, None, device, args.window, "_budget"))
    return 0


def run_zero(args: argparse.Namespace, spec: ModelSpec, device: torch.device, config: MemoryConfig) -> int:
    """DDP + AdamW vs DDP + ZeRO-1 AdamW under torchrun; rank 0 emits the gathered per-rank table."""
    import torch.distributed as dist

    from swinprof.optimize.zero import init_distributed, zero_rows
    from swinprof.studies.memory import report_stem, zero_report

    rank, _, device = init_distributed(device)
    try:
        if rank == 0:
            err_console.print(f"[dim]{spec.name} {spec.img_size}x{spec.img_size} batch {args.batch} per rank[/dim]")
        model = config.apply(spec.build(device))
        frame = zero_rows(model, args.batch, spec.img_size, device, iters=args.iters, warmup=args.warmup)
        if rank == 0:
            report = zero_report(
                frame, config, spec, args.batch, device, args.window, dist.get_backend(), args.iters, args.warmup
            )
            emit(report, args.format, args.output, report_stem(spec, args.batch, device, args.window, "_zero1"))
    finally:
        dist.destroy_process_group()
    return 0
