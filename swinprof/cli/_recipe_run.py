"""Shared by `swinprof run` and `swinprof quantize`: common options, then run, and emit one Report."""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

from swinprof.cli._render import emit, err_console
from swinprof.evaluate.compare import RunOptions, resolve, run_recipes
from swinprof.evaluate.record import run_files, run_report
from swinprof.measure.environment import environment
from swinprof.optimize.recipe import Recipe
from swinprof.report.files import ensure_writable_dir


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive")
    return sizes


def add_common(p: argparse.ArgumentParser, model_flag: bool = True) -> None:
    """The options `run` and `quantize` share (`quantize` names its model positionally: no --model)."""
    if model_flag:
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
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights (default 0)")
    p.add_argument("--bench-lock", metavar="FILE", help="flock FILE while timing (compiles run outside the lock)")
    p.add_argument(
        "--no-process-memory",
        dest="process_memory",
        action="store_false",
        help="skip the process peak (one fresh process per recipe and batch size: prepare + forward)",
    )
    p.add_argument("-o", "--output", help="output folder (default out/<model>-<recipes>-<UTC time>)")
    p.add_argument("--title", help="report title")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json", "html"], default="table",
                   help="what to print on stdout (default table)")  # fmt: skip


def options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        model=args.model, img_size=args.img_size, weights=args.weights, data=args.data, class_map=args.class_map,
        limit=args.limit, device=args.device, batch_sizes=args.batch_sizes, warmup=args.warmup, iters=args.iters,
        eval_batch_size=args.eval_batch_size, fidelity_samples=args.fidelity_samples, seed=args.seed,
        bench_lock=args.bench_lock, process_memory=args.process_memory,
    )  # fmt: skip


def execute(recipes: list[Recipe], args: argparse.Namespace) -> int:
    """Resolve and check (before any work), run, then print the report and publish it with the record, the
    resolved recipes and the artifacts as one unit. Exit code."""
    opts = options(args)
    resolved = resolve(recipes, opts)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output or f"out/{resolved[0].model.name}-{'+'.join(r.name for r in resolved)}-{stamp}")
    ensure_writable_dir(output.parent)  # fail before the work, not after it
    with tempfile.TemporaryDirectory(prefix="swinprof-run-") as work:
        result = run_recipes(resolved, opts, Path(work), on_event=lambda m: err_console.print(f"[dim]… {m}[/dim]"))
        env = environment(resolved[0].target.device)
        emit(run_report(result, env, args.title), args.format, output, "report", extra=run_files(result, env))
    return 0
