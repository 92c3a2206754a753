"""`swinprof profile`: the model-info tables of one variant (counts, layers, stages, aten ops, NN ops)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console
from swinprof.errors import InvalidOptionError

FORMATS = ["table", "markdown", "csv", "json", "html"]
# Bounds that keep a typo from costing memory: a thread pool far past the cores (each thread has its own stack),
# and a layer tree deeper than any Swin module nesting (about 6 levels) only makes torchinfo's table larger.
MAX_THREADS = 4 * (os.cpu_count() or 1)
MAX_DEPTH = 16


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "profile",
        help="model-info tables: params, MACs, layer tree, per-stage latency/memory, aten and NN ops",
        description="Profile one Swin variant: counts on the meta device, then times each stage on the real model "
        "and places stages and ops on the machine's roofline. Example: swinprof profile swin_s --res 224 "
        "--output out/profile",
    )
    p.add_argument(
        "variant",
        type=v.variant,
        help="variant name, e.g. swin_s or swin_small_patch4_window7_224 (see `swinprof models`)",
    )
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (multiple of 32; default: the "
                   "variant's)")  # fmt: skip
    o.add_batch(p, 1)
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32", help="model dtype (default fp32)")
    o.add_device(p)
    p.add_argument("--threads", type=v.int_at_least(1, MAX_THREADS), default=None,
                   help="torch intra-op threads (default: torch's)")  # fmt: skip
    p.add_argument("--attn", type=v.attention_names, default=["reference"],
                   help="attention implementation, or several comma-separated to compare on one roofline (default "
                   "reference; an unknown name lists the registered ones)")  # fmt: skip
    p.add_argument(
        "--warmup", type=v.non_negative_int, default=1,
        help="untimed calls per stage after the input-caching pass (default 1)",
    )  # fmt: skip
    p.add_argument("--iters", type=v.positive_int, default=10, help="timed calls per stage (default 10)")
    p.add_argument("--depth", type=v.int_at_least(0, MAX_DEPTH), default=3, help="layer-summary depth (default 3)")
    o.add_format(p)
    o.add_output(p)
    p.add_argument("--trace", action="store_true", help="write a Chrome/Perfetto trace (into --output, else .)")
    p.add_argument("--weights", type=v.existing_file, default=None, help="checkpoint file (.pth or .safetensors)")
    p.add_argument("--by-shape", action="store_true", help="add an aten op table grouped by input shapes")
    p.add_argument("--fvcore", action="store_true", help="cross-check the MAC total with fvcore (slow: JIT trace)")
    p.add_argument("--no-timing", action="store_true", help="counts and tables only: skip latency and op timing")
    p.add_argument("--plot", action="store_true", help="also write the roofline chart as <report>_roofline.png "
                   "into --output")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or status lines")
    return p


def _progress(quiet: bool):
    # Not on a terminal (a log, a pipe), a transient bar is no use and leaves an empty line on stderr, which would
    # then open an error message.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from swinprof.profile.collect import Progress as ProgressHooks

    if quiet or not err_console.is_terminal:
        return contextlib.nullcontext(ProgressHooks())

    class RichProgress(ProgressHooks):
        """Phase lines and a bar over the timed stage calls, on stderr (stdout stays clean for the tables)."""

        def __init__(self, bar: Progress) -> None:
            self.bar = bar
            self.task = bar.add_task("starting", total=None)

        def phase(self, description: str) -> None:
            self.bar.update(self.task, description=description, total=None, completed=0)

        def timing(self, total_calls: int):
            self.bar.update(self.task, description="timing stages", total=total_calls, completed=0)
            return lambda: self.bar.advance(self.task)

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    )  # fmt: skip

    @contextlib.contextmanager
    def running():
        with bar:
            yield RichProgress(bar)

    return running()


def run(args: argparse.Namespace) -> int:
    import tempfile

    from swinprof.profile.collect import ProfileOptions
    from swinprof.profile.swin import profile_swin

    if args.plot and (args.output is None or args.no_timing):
        raise InvalidOptionError("--plot draws the measured roofline beside the report: add --output DIR (and timing)")
    stem = f"profile_{args.variant}_{args.res or 'default'}_b{args.batch}_{args.dtype}"
    if args.trace and args.output is None:
        v.output_file(f"{stem}_trace.json")  # into the working folder: fail now if it cannot be written
    v.check_memory(
        args.variant, args.res, args.batch, dtype=args.dtype, attn=args.attn[0], what="profile", device=args.device
    )
    with tempfile.TemporaryDirectory(prefix="swinprof-profile-") as tmp:
        # With --output the trace is one more file of the report, published with it (whole or not at all).
        trace_path = None
        if args.trace:
            trace_path = Path(tmp if args.output else ".") / f"{stem}_trace.json"
        options = ProfileOptions(
            warmup=args.warmup, iters=args.iters, depth=args.depth, by_shape=args.by_shape, fvcore=args.fvcore,
            trace_path=trace_path, time_it=not args.no_timing,
        )  # fmt: skip
        with _progress(args.quiet) as hooks:
            report = profile_swin(
                args.variant, args.res, args.batch, args.dtype, args.device, ",".join(args.attn), args.weights,
                args.threads, options, hooks,
            )  # fmt: skip
        extra: dict = {}
        if args.output and trace_path is not None and trace_path.exists():
            extra[trace_path.name] = trace_path
            report.settings["trace"] = str(Path(args.output) / trace_path.name)
        if args.plot and any(t.key.startswith("roofline") for t in report.tables):
            from swinprof.profile.collect import roofline_chart

            extra[f"{stem}_roofline.png"] = roofline_chart(report, "png")
        emit(report, args.format, args.output, stem, extra, quiet=args.quiet)
    if trace_path is not None and not args.output and not args.quiet:
        err_console.print(f"wrote {trace_path}", highlight=False)
    return 0
