"""Shared by `swinprof run` and `swinprof quantize`: common options, running, rendering, writing."""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

from swinprof.cli._render import console, err_console, print_frame
from swinprof.evaluate.compare import RunOptions, resolve, run_recipes
from swinprof.evaluate.record import comparison_frame, write_run
from swinprof.measure.environment import environment
from swinprof.optimize.recipe import Recipe


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive")
    return sizes


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="variant name (overrides the recipe's [model].name)")
    p.add_argument("--res", type=int, dest="img_size", help="input resolution (multiple of 32)")
    p.add_argument("--weights", help="checkpoint (.pth / .safetensors); default random init (latency only)")
    p.add_argument("--data", help="image folder: ImageFolder for accuracy, any folder for calibration/fidelity")
    p.add_argument("--class-map", help="folder name -> class index file (JSON or text) for non-synset folders")
    p.add_argument("--limit", type=int, help="use at most N images (classes interleaved)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="override the recipe's [target].device")
    p.add_argument("--batch-sizes", type=_batch_sizes, help="benchmark batch sizes, e.g. 1,8")
    p.add_argument("--warmup", type=int, help="untimed warmup calls per model")
    p.add_argument("--iters", type=int, help="timed calls per model and batch size")
    p.add_argument("--eval-batch", type=int, dest="eval_batch_size", help="batch size for fidelity/accuracy")
    p.add_argument("--fidelity-samples", type=int, help="inputs compared against fp32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bench-lock", metavar="FILE", help="flock FILE while timing (compiles run outside the lock)")
    p.add_argument("-o", "--output", help="output folder (default out/<model>-<recipes>-<UTC time>)")
    p.add_argument("--title", help="report title")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")


def options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        model=args.model, img_size=args.img_size, weights=args.weights, data=args.data, class_map=args.class_map,
        limit=args.limit, device=args.device, batch_sizes=args.batch_sizes, warmup=args.warmup, iters=args.iters,
        eval_batch_size=args.eval_batch_size, fidelity_samples=args.fidelity_samples, seed=args.seed,
        bench_lock=args.bench_lock,
    )  # fmt: skip


def execute(recipes: list[Recipe], args: argparse.Namespace) -> int:
    """Resolve and check (before any work), run, print the comparison, write the record. Exit code."""
    opts = options(args)
    resolved = resolve(recipes, opts)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output or f"out/{resolved[0].model.name}-{'+'.join(r.name for r in resolved)}-{stamp}")
    with tempfile.TemporaryDirectory(prefix="swinprof-run-") as work:
        result = run_recipes(resolved, opts, Path(work), on_event=lambda m: err_console.print(f"[dim]… {m}[/dim]"))
        env = environment(resolved[0].target.device)
        written = write_run(result, output, env, args.title)
    print_frame(comparison_frame(result), title=f"{result.inputs['model']} vs fp32 eager", fmt=args.format)
    for w in result.warnings:
        err_console.print(f"[bold yellow]warning:[/bold yellow] {w}")
    if args.format == "table":
        console.print(f"wrote {output}/: " + ", ".join(written))
    return 0
