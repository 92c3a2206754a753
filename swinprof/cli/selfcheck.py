"""`swinprof selfcheck`: run every user-facing code path once on a device and write one report of the outcome."""

from __future__ import annotations

import argparse
import os
import time

from swinprof.cli._render import FORMATS, emit, err_console
from swinprof.errors import InvalidOptionError
from swinprof.measure.device import resolve_device
from swinprof.measure.environment import environment

EPILOG = (
    "exit codes: 0 nothing failed (skipped paths are fine), 1 at least one path failed, 2 bad input "
    "(e.g. --device cuda on a machine without CUDA). Writes selfcheck-<device>.md/.json (+ .html, .csv) with -o."
)
BUDGET_CUDA_S = 470.0  # a full GPU run fits in 8 minutes: paths not started by then are listed as skipped


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "selfcheck",
        help="run every code path once (profile, attention, memory, recipes, export, bench): ok/skipped/failed",
        description="Run every user-facing path once at small size (without --quick on CUDA: also the full-size "
        "headline numbers) and report per path: ok with its key figure, skipped with the reason, or failed.",
        epilog=EPILOG,
    )  # fmt: skip
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device to check (default cpu)")
    p.add_argument("--quick", action="store_true", help="small sizes only, fewest iterations (no headline numbers)")
    p.add_argument("-o", "--output", metavar="DIR", help="write selfcheck-<device>.md/.json here")
    p.add_argument("--only", metavar="NAMES", help="comma-separated paths or name prefixes, e.g. attention,recipe")
    budget_help = f"overall time budget in seconds (default: {BUDGET_CUDA_S:.0f} on CUDA, none on CPU)"
    p.add_argument("--budget", type=float, metavar="S", help=budget_help)
    p.add_argument("--list", action="store_true", help="list the paths with their devices and exit")
    p.add_argument("--summary", action="store_true", help="print the 'Verified on' table from committed reports")
    p.add_argument("--reports", default="reports", metavar="DIR", help="where --summary looks (default reports)")
    p.add_argument("--format", choices=FORMATS, default="table", help="what to print on stdout (default table)")
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
    if args.summary:
        from swinprof.selfcheck.summary import summary_report

        emit(summary_report(args.reports), args.format)
        return 0
    if args.list:
        return _list(args)
    if args.budget is not None and args.budget <= 0:
        raise InvalidOptionError(f"--budget must be a positive number of seconds, got {args.budget}")
    device = resolve_device(args.device)  # CUDA on a machine without it: one line, exit 2
    from swinprof.selfcheck.runner import FAILED, build_report, load_average, run_checks

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    budget = args.budget if args.budget is not None else (BUDGET_CUDA_S if device.type == "cuda" else None)
    # One thread per command on CPU: the paths run one at a time, and on a shared 2-core machine two OpenMP
    # threads spin against other jobs (a tiny backward took 8x longer that way).
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")} if device.type == "cpu" else {}
    load_before, start = load_average(), time.monotonic()
    outcomes = run_checks(device.type, args.quick, only, budget, env, on_progress=_progress)
    settings = {
        "device": device.type, "quick": args.quick, "only": args.only or "all", "budget_s": budget,
        "wall_s": round(time.monotonic() - start, 1), "load_1min_before": load_before,
        "load_1min_after": load_average(), "child_env": env,
    }  # fmt: skip
    report = build_report(outcomes, settings, environment(device))
    emit(report, args.format, args.output, stem=f"selfcheck-{device.type}")
    return 1 if any(o.status == FAILED for o in outcomes) else 0


def _progress(line: str) -> None:
    err_console.print(line, highlight=False, markup=False, soft_wrap=True)
