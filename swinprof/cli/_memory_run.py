"""The three modes of `swinprof memory` (step table, budget search, ZeRO-1): call the library, render, write."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pandas as pd
import torch

from swinprof.cli._render import console, print_frame
from swinprof.optimize.memory import MemoryConfig, compare_configs
from swinprof.optimize.memreport import make_section, report_stem, write_report


@dataclass
class RunContext:
    args: argparse.Namespace
    variant: str
    res: int
    device: torch.device
    env: dict
    method: str = ""
    sections: dict = field(default_factory=dict)

    @property
    def header(self) -> str:
        win = f", window {self.args.window}" if self.args.window else ""
        return f"Training-step memory: {self.variant} at {self.res}x{self.res}{win}, batch {self.args.batch}"

    def show(self, key: str, title: str, df: pd.DataFrame, notes: list[str]) -> None:
        print_frame(df, title=title, fmt=self.args.format)
        if self.args.format == "table":
            for n in notes:
                console.print(f"[dim]- {n}[/dim]")
        self.sections[key] = make_section(title, df, self.method, self.env, notes)

    def write(self) -> None:
        if not self.args.output:
            return
        stem = report_stem(self.variant, self.res, self.args.batch, self.device.type, self.args.window)
        md, js = write_report(self.args.output, stem, self.header, self.sections)
        console.print(f"wrote {md} and {js}")


STEP_NOTES = [
    "One training step = forward, cross-entropy backward, AdamW step (weight decay 0.05), fp32, train mode.",
    "activations = tensor bytes alive after the forward (kept for backward); peak = high-water mark of the "
    "whole step, parameters, gradients and optimizer state included.",
    "attn scores peak = most bytes of attention-score-shaped tensors (..., heads, N, N) alive at once.",
    "Rows share one model and one AdamW; step times are medians of interleaved steps (ratios in one run).",
]


def run_steps(ctx: RunContext, model, configs: list[MemoryConfig]) -> int:
    from swinprof.studies.attention_peak import attention_peak_frame

    a = ctx.args
    df = compare_configs(model, configs, a.batch, ctx.res, ctx.device, iters=a.iters, warmup=a.warmup)
    notes = [*STEP_NOTES, f"{a.iters} timed steps per row after {a.warmup} warm-up."]
    ctx.show("steps", "Training step per configuration", df, notes)
    seq = next((c for c in configs if c.seq_chunks > 1), None)
    if seq is not None:
        stage = seq.seq_stages[0]
        att = attention_peak_frame(model, stage, a.batch, ctx.res, seq.seq_chunks, ctx.device)
        att_notes = [
            att.attrs["input"] + "; forward + backward of that block's window attention.",
            "working set = peak bytes above the inputs (scores, q/k/v, projections, gradients).",
            "expected scores factor = windows / windows per chunk (the score tensor shrinks with the chunk).",
        ]
        ctx.show("attention", f"Sequential attention: stage {stage + 1} attention peak", att, att_notes)
    ctx.write()
    return 0


def run_budget(ctx: RunContext, model, config: MemoryConfig) -> int:
    from swinprof.optimize.budget import largest_batch, parse_bytes

    budget = parse_bytes(ctx.args.budget)
    result = largest_batch(model, config, ctx.res, ctx.device, budget)
    df = pd.DataFrame(
        [{"batch": b, "peak (MiB)": (p / 2**20) if p else None, "how": how} for b, p, how in result.probes]
    )
    notes = [
        f"largest batch that fits {ctx.args.budget} ({config.label}): {result.batch} "
        f"(peak {result.peak / 2**20:.1f} MiB)",
        "search: doubling from batch 1, then bisection; every 'measured' row is a real training step.",
    ]
    ctx.show("budget", f"Largest batch within {ctx.args.budget}", df, notes)
    ctx.write()
    return 0


def run_zero(ctx: RunContext, model, config: MemoryConfig, quiet: bool) -> int:
    import torch.distributed as dist

    from swinprof.optimize.zero import zero_rows

    config.apply(model)
    try:
        df = zero_rows(model, ctx.args.batch, ctx.res, ctx.device, iters=ctx.args.iters, warmup=ctx.args.warmup)
        if not quiet:
            world = int(df["world size"].iloc[0])
            notes = [
                f"{world} processes (torchrun), {dist.get_backend()} backend, DDP (gradient_as_bucket_view) with "
                f"{config.label}; batch {ctx.args.batch} per rank.",
                "optimizer state = this rank's AdamW state tensors; ZeRO-1 keeps only its shard of the parameters.",
                "Both optimizers step the same DDP model; step times are interleaved medians per rank.",
            ]
            ctx.show("zero", f"ZeRO-1 on {world} ranks", df, notes)
            ctx.write()
    finally:
        dist.destroy_process_group()
    return 0
