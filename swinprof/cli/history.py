"""`swinprof history`: append results to the history store; show latency over commits and step changes."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import console, emit
from swinprof.errors import SwinprofError
from swinprof.track.history import DEFAULT_STORE, add_results, load_history, suites_in


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("history", help="results history: add a run, show latency over commits and step changes",
                       description="Keep the results of `swinprof bench` runs in a history store (JSON lines, "
                       f"default {DEFAULT_STORE}) and show latency over commits with its step changes. "
                       "Example: swinprof history add out/bench.json; swinprof history show")  # fmt: skip
    hs = p.add_subparsers(dest="history_command", metavar="ACTION", help="what to do with the history store")
    hs.required = True
    add = hs.add_parser("add", help="append a results file to the history store",
                        description="Append one results file (from swinprof bench) to the history store, "
                        "atomically. Example: swinprof history add out/bench.json")  # fmt: skip
    add.add_argument("results", help="results JSON from swinprof bench")
    add.add_argument("--store", default=DEFAULT_STORE, type=v.output_file,
                     help=f"history file (JSON lines; default {DEFAULT_STORE})")  # fmt: skip
    show = hs.add_parser("show", help="table of runs, step changes, optional PNG plot",
                         description="Runs of each suite in the store with the calibration-normalised metric "
                         "regress decides on, step changes, and a PNG plot. "
                         "Example: swinprof history show --store out/history.jsonl --plot out/history.png")  # fmt: skip
    show.add_argument("--store", default=DEFAULT_STORE, help=f"history file (default {DEFAULT_STORE})")
    show.add_argument("--suite", help="which suite (default: every suite in the store)")
    show.add_argument("--plot", metavar="PNG", type=v.output_file,
                      help="write a latency-over-commits plot (one suite: use --suite)")  # fmt: skip
    show.add_argument("--threshold", default="5%", help="smallest step change to list (default 5%%)")
    show.add_argument("--last", type=v.positive_int, default=20, help="rows of the run table to print (default 20)")
    o.add_format(show)
    o.add_output(show)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.report.document import Report
    from swinprof.track.plot import plot_history
    from swinprof.track.report import history_frame, steps_frame
    from swinprof.track.results import load_results

    if args.history_command == "add":
        count = add_results(args.store, load_results(args.results), source=args.results)
        console.print(f"added {args.results} to {args.store} ({count} runs)")
        return 0
    threshold = v.parse_fraction_threshold(args.threshold)  # the rule regress --threshold reads
    entries = load_history(args.store)
    suites = suites_in(entries)
    if not entries:
        raise SwinprofError(f"history {args.store!r} is empty or missing; add runs with: swinprof history add R.json")
    if args.suite:
        if args.suite not in suites:
            raise SwinprofError(f"no suite {args.suite!r} in {args.store}; it has: {', '.join(suites)}")
        suites = [args.suite]
    if args.plot and len(suites) > 1:
        raise SwinprofError(f"{args.store} holds several suites ({', '.join(suites)}): pick one with --suite")
    report = Report(f"swinprof history: {args.store}", settings={"store": args.store, "threshold": args.threshold})
    for suite in suites:
        frame = history_frame(entries, suite).tail(args.last)
        metric = _metric(entries, suite)
        report.add(f"{suite}_runs", f"{suite}: per run (last {len(frame)})", frame,
                   f"{metric}/cal: median {metric} time / calibration workload per round (what regress and the step "
                   f"detection decide on); {metric} ms: the raw median beside it")  # fmt: skip
        steps = steps_frame(entries, suite, threshold)
        if steps.empty:
            report.add(f"{suite}_steps", f"{suite}: no step changes beyond {threshold:.0%}")
        else:
            report.add(f"{suite}_steps", f"{suite}: step changes", steps)
    if args.plot:
        plot_history(entries, suites[0], args.plot, threshold)
        report.notes.append(f"plot: {args.plot}")
    emit(report, args.format, args.output, "history")
    return 0


def _metric(entries: list[dict], suite: str) -> str:
    return [e for e in entries if e["suite"] == suite][-1].get("metric", "wall")
