"""`swinprof import-trtexec`: trtexec's exported times/profile (and log) -> a results file for regress/history."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "import-trtexec",
        help="read trtexec's --exportTimes/--exportProfile JSON (and log) into a results file",
        description="Turn one trtexec run on the device into a swinprof results file (one case, one sample per "
        "timed inference) that swinprof regress and history read like a bench run, and print the per-layer "
        "times. Example: swinprof import-trtexec --times times.json --profile profile.json --log trtexec.log "
        "--case swin_t-int8-b1 -o results.json",
    )
    p.add_argument("--times", required=True, type=v.existing_file, help="trtexec --exportTimes JSON")
    p.add_argument("--profile", type=v.existing_file, help="trtexec --exportProfile JSON (per-layer times)")
    p.add_argument("--log", type=v.existing_file, help="trtexec's log (device, TensorRT version, command)")
    p.add_argument("--case", default="trtexec", help="case id in the results file (default trtexec)")
    p.add_argument("--suite", default="trtexec", help="suite name; regress compares files of one suite")
    p.add_argument("--metric", choices=["compute", "latency"], default="compute",
                   help="samples: GPU compute time, or latency with the copies (default compute)")  # fmt: skip
    p.add_argument("--git-sha", help="commit the engine was built from (for history)")
    o.add_output(p, "the results JSON here", kind=v.output_file, required=True)
    p.add_argument("--report", metavar="DIR", type=v.output_dir, help="also write the report's files here")
    o.add_format(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.track.results import save_results
    from swinprof.track.trtexec import read_run, to_results, trtexec_report

    trt = read_run(args.times, args.profile, args.log)
    results = to_results(trt, args.case, args.metric, args.suite, args.git_sha)
    save_results(results, args.output)
    emit(trtexec_report(trt, args.case, args.output), args.format, args.report, stem="trtexec")
    return 0
