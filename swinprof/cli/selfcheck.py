"""`swinprof selfcheck`: run every user-facing code path once on a device and write one report of the outcome."""

from __future__ import annotations

import argparse
import os
import time

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console

EPILOG = (
    "exit codes: 0 nothing failed (skipped paths are fine), 1 at least one path failed, 2 bad input "
    "(e.g. --device cuda on a machine without CUDA). Writes selfcheck-<device>.md/.json (+ .html, .csv) with -o."
)
# On a GPU machine (short sessions, 10-minute commands) a run stops starting paths after this many seconds, and
# lists the rest as skipped: a full run fits in 8 minutes, a quick one in 9.
BUDGET_CUDA_S = {"full": 470.0, "quick": 540.0}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "selfcheck",
        help="run every code path once (profile, attention, memory, recipes, export, bench): ok/skipped/failed",
        description="Run every user-facing path once at small size (without --quick on CUDA: also the full-size "
        "headline numbers) and report per path: ok with its key figure, skipped with the reason, or failed. "
        "Example: swinprof selfcheck --device cpu --quick -o out/selfcheck",
        epilog=EPILOG,
    )  # fmt: skip
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device to check (default cpu)")
    p.add_argument("--quick", action="store_true", help="small sizes only, fewest iterations (no headline numbers)")
    o.add_output(p, "selfcheck-<device>.md/.json (+ .html, .csv) into this folder", metavar="DIR")
    p.add_argument("--only", metavar="NAMES", help="comma-separated paths or name prefixes, e.g. attention,recipe")
    budget_help = "overall time budget in seconds (default on CUDA: {full:.0f}, with --quick {quick:.0f}; none on CPU)"
    p.add_argument("--budget", type=v.finite_float(0, open_low=True), metavar="S",
                   help=budget_help.format(**BUDGET_CUDA_S))  # fmt: skip
    p.add_argument("--jobs", type=v.positive_int, metavar="N",
                   help="small-size paths run at a time (default: 2 on CPU, each command on one thread; 4 on "
                   "CUDA); the full-size headline paths always run alone")  # fmt: skip
    p.add_argument("--list", action="store_true", help="list the paths with their devices and exit")
    p.add_argument("--summary", action="store_true", help="print the 'Verified on' table from committed reports")
    p.add_argument("--reports", default="reports", metavar="DIR", help="where --summary looks (default reports)")
    o.add_format(p)
    return p


def _list(args: argparse.Namespace) -> int:
    import pandas as pd

    from swinprof.report.document import Report
    from swinprof.selfcheck.registry import all_checks

    rows = [
        {"path": c.name, "devices": ",".join(c.devices), "full size only": c.full_only,
         "limit s (cpu / cuda)": f"{c.limit_s['cpu']:.0f} / {c.limit_s['cuda']:.0f}", "what": c.what}
        for c in all_checks()
    ]  # fmt: skip
    report = Report("selfcheck paths")
    report.add("paths", "Registered paths", pd.DataFrame(rows))
    emit(report, args.format)
    return 0


def run(args: argparse.Namespace) -> int:
    from swinprof.measure.device import resolve_device
    from swinprof.measure.environment import environment

    if args.summary:
        from swinprof.selfcheck.summary import summary_report

        emit(summary_report(args.reports), args.format)
        return 0
    if args.list:
        return _list(args)
    device = resolve_device(args.device)  # CUDA on a machine without it: one line, exit 2
    from swinprof.measure.environment import load_average
    from swinprof.selfcheck.run_paths import FAILED, build_report, run_checks

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    cuda = device.type == "cuda"
    budget = args.budget or (BUDGET_CUDA_S["quick" if args.quick else "full"] if cuda else None)
    # CPU: two commands at a time, one OpenMP thread each. On a shared 2-core machine two threads per command
    # spin against other jobs (a tiny backward took 8x longer that way); two single-thread commands use both cores.
    # CUDA: four small-size paths at a time share the GPU (their figures are errors and ratios, not benchmarks)
    # and the machine's cores, which their inductor and ONNX work needs more than the GPU does.
    jobs = args.jobs or (4 if cuda else 2)
    threads = max(1, (os.cpu_count() or 1) // jobs) if cuda else 1  # each command its share of the cores
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}
    load_before, start = load_average(), time.monotonic()
    outcomes = run_checks(device.type, args.quick, only, budget, env, jobs, on_progress=_progress)
    settings = {
        "device": device.type, "quick": args.quick, "only": args.only or "all", "budget_s": budget, "jobs": jobs,
        "wall_s": round(time.monotonic() - start, 1), "load_1min_before": load_before,
        "load_1min_after": load_average(), "child_env": env, **_cuda_settings(cuda),
    }  # fmt: skip
    report = build_report(outcomes, settings, environment(device))
    emit(report, args.format, args.output, stem=f"selfcheck-{device.type}")
    return 1 if any(o.status == FAILED for o in outcomes) else 0


def _cuda_settings(cuda: bool) -> dict:
    """CUDA version and compute capability (what fp8 and the kernels depend on) for the report."""
    if not cuda:
        return {}
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {"cuda": torch.version.cuda, "capability": f"{major}.{minor}"}


def _progress(line: str) -> None:
    err_console.print(line, highlight=False, markup=False, soft_wrap=True)
