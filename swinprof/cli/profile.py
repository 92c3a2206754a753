"""`swinprof profile`: the model-info tables of one variant (counts, layers, stages, aten ops, NN ops)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from swinprof.cli._render import emit, err_console
from swinprof.errors import InvalidOptionError
from swinprof.models.attention.registry import available_attention
from swinprof.profile.runner import ProfileOptions
from swinprof.profile.runner import Progress as ProgressHooks
from swinprof.report.files import ensure_writable_dir

FORMATS = ["table", "markdown", "csv", "json", "html"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "profile",
        help="model-info tables: params, MACs, layer tree, per-stage latency/memory, aten and NN ops",
        description="Profile one Swin variant: counts on the meta device, then times each stage on the real model "
        "and places stages and ops on the machine's roofline. Example: swinprof profile swin_s --res 224 "
        "--output out/profile",
    )
    p.add_argument("variant", help="variant name, e.g. swin_s or swin_small_patch4_window7_224 (see `swinprof models`)")
    p.add_argument("--res", type=int, default=None, help="input resolution (multiple of 32; default: the variant's)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32", help="model dtype (default fp32)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--attn", default="reference", help="attention implementation, or several comma-separated to "
                   f"compare on one roofline ({', '.join(available_attention())})")  # fmt: skip
    p.add_argument(
        "--warmup", type=int, default=1, help="untimed calls per stage after the input-caching pass (default 1)"
    )
    p.add_argument("--iters", type=int, default=10, help="timed calls per stage (default 10)")
    p.add_argument("--depth", type=int, default=3, help="layer-summary depth (default 3)")
    p.add_argument("--format", choices=FORMATS, default="table", help="terminal output format (default table)")
    p.add_argument("--output", type=Path, default=None, help="also write md/csv/json/html reports into this directory")
    p.add_argument("--trace", action="store_true", help="write a Chrome/Perfetto trace (into --output, else .)")
    p.add_argument("--weights", default=None, help="checkpoint file (.pth or .safetensors) to load")
    p.add_argument("--by-shape", action="store_true", help="add an aten op table grouped by input shapes")
    p.add_argument("--fvcore", action="store_true", help="cross-check the MAC total with fvcore (slow: JIT trace)")
    p.add_argument("--no-timing", action="store_true", help="counts and tables only: skip latency and op timing")
    p.add_argument("--plot", action="store_true", help="also write the roofline chart as <report>_roofline.png "
                   "into --output")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or status lines")
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    minimum = {"batch": 1, "iters": 1, "warmup": 0, "depth": 0, "threads": 1}
    for name, low in minimum.items():
        value = getattr(args, name)
        if value is not None and value < low:
            raise InvalidOptionError(f"--{name} must be >= {low}, got {value}")


class _RichProgress(ProgressHooks):
    """Phase lines and a bar over the timed stage calls, on stderr (stdout stays clean for the tables)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=None)

    def phase(self, description: str) -> None:
        self.bar.update(self.task, description=description, total=None, completed=0)

    def timing(self, total_calls: int):
        self.bar.update(self.task, description="timing stages", total=total_calls, completed=0)
        return lambda: self.bar.advance(self.task)


def _progress(quiet: bool):
    if quiet:
        return contextlib.nullcontext(ProgressHooks())
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    )  # fmt: skip

    @contextlib.contextmanager
    def running():
        with bar:
            yield _RichProgress(bar)

    return running()


def run(args: argparse.Namespace) -> int:
    from swinprof.profile.swin import profile_swin

    _check_numbers(args)
    if args.plot and (args.output is None or args.no_timing):
        raise InvalidOptionError("--plot draws the measured roofline beside the report: add --output DIR (and timing)")
    out_dir = ensure_writable_dir(args.output) if args.output is not None else None
    stem = f"profile_{args.variant}_{args.res or 'default'}_b{args.batch}_{args.dtype}"
    trace_path = None
    if args.trace:
        trace_path = (out_dir or ensure_writable_dir(Path.cwd())) / f"{stem}_trace.json"
    options = ProfileOptions(
        warmup=args.warmup, iters=args.iters, depth=args.depth, by_shape=args.by_shape, fvcore=args.fvcore,
        trace_path=trace_path, time_it=not args.no_timing,
    )  # fmt: skip
    with _progress(args.quiet) as hooks:
        report = profile_swin(
            args.variant, args.res, args.batch, args.dtype, args.device, args.attn, args.weights, args.threads,
            options, hooks,
        )  # fmt: skip
    extra = {}
    if args.plot and any(t.key.startswith("roofline") for t in report.tables):
        from swinprof.profile.runner import roofline_chart

        extra[f"{stem}_roofline.png"] = roofline_chart(report, "png")
    emit(report, args.format, out_dir, stem, extra, quiet=args.quiet)
    if trace_path is not None and not args.quiet:
        err_console.print(f"wrote {trace_path}", highlight=False)
    return 0
