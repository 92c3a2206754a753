"""`swinprof regress`: compare a results file against a baseline; markdown + terminal report, exit 1 on regression."""

from __future__ import annotations

import argparse
import os

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit
from swinprof.errors import SwinprofError
from swinprof.files import atomic_write_many
from swinprof.track.history import load_history
from swinprof.track.regress import METRICS, NORMALISATIONS, compare_results

EXIT_REGRESSION = 1


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "regress",
        help="compare benchmark results with a baseline (exit 1 on a regression)",
        description="Decide per case whether the current results are slower than the baseline (Mann-Whitney U "
        "on calibration-normalised samples plus a ratio threshold). Exit 0: no regression, 1: regression, "
        "2: bad input. Example: swinprof regress reports/baseline-ci-tiny.json out/bench.json --threshold 5%%",
    )
    p.add_argument("baseline", help="baseline results JSON (from swinprof bench)")
    p.add_argument("current", help="current results JSON")
    p.add_argument("--threshold", type=v.fraction_threshold, default="5%",
                   help="smallest slowdown that counts, e.g. 5%% or 0.05 (default 5%%)")  # fmt: skip
    p.add_argument("--alpha", type=v.finite_float(0, 1, open_low=True, open_high=True), default=0.01,
                   help="significance level of the rank test (default 0.01)")  # fmt: skip
    p.add_argument("--metric", choices=METRICS, default=None, help="wall or cpu time (default: the suite's)")
    p.add_argument("--normalise", choices=NORMALISATIONS, default="round",
                   help="divide by the calibration workload per round (default), per run, or not at all")  # fmt: skip
    p.add_argument("--min-samples", type=v.positive_int, default=10,
                   help="fewer samples than this give 'uncertain' (default 10; fewer than 4 a side always do: no "
                   "95%% interval exists there)")  # fmt: skip
    p.add_argument("--accuracy-threshold", type=v.accuracy_limit("dB"), default="1dB",
                   help="largest SQNR drop of a case with fidelity that is not a regression (default 1dB)")  # fmt: skip
    p.add_argument("--top1-threshold", type=v.accuracy_limit("points"), default="1pt",
                   help="largest top-1 agreement drop, in percentage points, below 100 (default 1pt)")  # fmt: skip
    p.add_argument("--acc-threshold", type=v.accuracy_limit("points"), default="1pt",
                   help="largest top-1 accuracy drop of a case with accuracy that is not a regression, below 100pt; a "
                   "larger one must also be significant at --alpha (default 1pt)")  # fmt: skip
    p.add_argument("--report-only", action="store_true", help="exit 0 even on a regression (CI on noisy machines)")
    p.add_argument("--markdown", metavar="FILE", type=v.output_file,
                   help="also write the markdown report here (e.g. $GITHUB_STEP_SUMMARY)")  # fmt: skip
    p.add_argument("--history", metavar="STORE", help="history store for sparklines and step changes in the report")
    p.add_argument("--plot", metavar="PNG", type=v.output_file,
                   help="draw the history of this suite here (needs --history)")  # fmt: skip
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.report.writer import report_markdown
    from swinprof.track.plot import history_png
    from swinprof.track.report import regression_report
    from swinprof.track.results import load_results

    threshold, sqnr_db, top1_points = args.threshold, args.accuracy_threshold, args.top1_threshold
    if args.plot and not args.history:
        raise SwinprofError("--plot needs --history STORE (the plot draws the stored history)")
    if args.plot and args.markdown and os.path.abspath(args.plot) == os.path.abspath(args.markdown):
        raise SwinprofError("--plot and --markdown name the same file: give them different names")
    base, new = load_results(args.baseline), load_results(args.current)
    cmp = compare_results(base, new, threshold, args.alpha, args.normalise, args.min_samples, args.metric, sqnr_db,
                          top1_points, args.acc_threshold)  # fmt: skip
    history = load_history(args.history) if args.history else None
    files = {}
    if args.plot:
        files[args.plot] = history_png(history, cmp.suite_name, threshold)
    report = regression_report(cmp, args.report_only, history, args.plot)
    report.settings.update({"baseline": args.baseline, "current": args.current})
    if args.markdown:
        files[args.markdown] = report_markdown(report).encode()
    atomic_write_many(files)  # the markdown and the plot appear together or not at all
    emit(report, args.format, args.output, "regression")
    if cmp.has_regression and not args.report_only:
        return EXIT_REGRESSION
    return 0
