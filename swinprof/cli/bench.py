"""`swinprof bench`: run a benchmark suite and write the raw results (JSON)."""

from __future__ import annotations

import argparse
import statistics
from typing import TYPE_CHECKING

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import err_console, show_report
from swinprof.errors import SwinprofError

if TYPE_CHECKING:
    from swinprof.report.document import Report

# A planted slowdown busy-waits (FACTOR - 1) x each case's time: 10x already makes any regression obvious, while a
# huge finite factor (1e308) would busy-wait for ever.
MAX_PLANTED_SLOWDOWN = 10.0


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench",
        help="time a benchmark suite (TOML) and write raw results for regress/history",
        description="Time every case of a suite in interleaved rounds (with a calibration workload, over fresh "
        "worker processes) and write the raw samples as versioned JSON. With --data, also evaluate each case's "
        "model once (not timed) over labeled images and write its top-1 with per-image correctness and image ids, "
        "which regress --acc-threshold compares. Examples: swinprof bench recipes/suites/ci-bench-tiny.toml -o "
        "out/bench.json; swinprof bench digits.toml --weights out/digits/swin_digits.safetensors --data "
        "out/digits/test --class-map out/digits/classes.txt -o out/bench.json",
    )
    p.add_argument("suite", help="suite file, e.g. recipes/suites/ci-bench.toml")
    o.add_output(p, "the results JSON here, atomically", kind=v.output_file, required=True)
    p.add_argument("--samples", type=v.int_at_least(2), default=None, help="interleaved rounds (default: the suite's)")
    p.add_argument("--warmup", type=v.non_negative_int, default=None,
                   help="untimed calls per case first (default: the suite's)")  # fmt: skip
    p.add_argument(
        "--processes", type=v.positive_int, default=None,
        help="fresh processes to split the rounds over (default: the suite's)",
    )  # fmt: skip
    p.add_argument(
        "--planted-slowdown",
        type=v.finite_float(1.0, MAX_PLANTED_SLOWDOWN),
        default=1.0,
        metavar="FACTOR",
        help="TESTING ONLY: slow every case by FACTOR (e.g. 1.15; at most "
        f"{MAX_PLANTED_SLOWDOWN:g}) with a busy-wait, to check the regression detector; recorded in the results",
    )
    p.add_argument("--weights", type=v.existing_file,
                   help="checkpoint (.pth / .safetensors) every case's model loads; default random init")  # fmt: skip
    p.add_argument("--data", type=v.existing_dir,
                   help="labeled images (ImageFolder): evaluate each case's top-1 over them, once, untimed; needs "
                   "--weights")  # fmt: skip
    p.add_argument("--class-map", type=v.existing_file,
                   help="folder name -> class index file (JSON or text) for non-synset folders, with --data")
    p.add_argument("--labels", type=v.existing_file, metavar="FILE",
                   help="labels of a flat --data folder (ImageNet's validation layout; see `swinprof run --help`)")
    p.add_argument("--limit", type=v.positive_int, help="evaluate at most N images (classes interleaved; with --data)")
    p.add_argument("--eval-batch", type=v.positive_int, default=16,
                   help="batch size of the accuracy evaluation (default 16; with --data)")  # fmt: skip
    o.add_format(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    return p


def _labeled_images(args: argparse.Namespace):
    """The images --data names (labels checked, every header read) before any model is built, or None."""
    if args.data is None:
        given = [flag for flag, value in (("--class-map", args.class_map), ("--labels", args.labels),
                                          ("--limit", args.limit)) if value]  # fmt: skip
        if given:
            raise SwinprofError(f"{given[0]} applies to the accuracy evaluation: give --data DIR (labeled images)")
        return None
    if args.weights is None:
        raise SwinprofError("--data evaluates top-1: give --weights FILE, the checkpoint every case loads (random "
                            "weights score chance)")  # fmt: skip
    from swinprof.errors import DataPathError
    from swinprof.evaluate.imagefolder import scan_images

    images = scan_images(args.data, args.class_map, args.limit, labels=args.labels)
    if not images.labeled:
        raise DataPathError(f"--data {args.data!r} has no labels: top-1 needs class folders or a --labels file")
    return images


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from swinprof.track.bench_rounds import repair_cache_for, run_suite
    from swinprof.track.results import save_results
    from swinprof.track.suite import load_suite

    suite = load_suite(args.suite)
    samples = args.samples or suite.samples
    if (args.processes or suite.processes) > samples:
        raise SwinprofError(f"--processes {args.processes or suite.processes} is more than the {samples} rounds "
                            "to split over them: use fewer processes or more --samples")  # fmt: skip
    images = _labeled_images(args)
    _check_memory(suite)
    repair_cache_for(suite)  # before the accuracy pass compiles; run_suite records what was removed
    accuracy = {}
    if images is not None:  # before the timing: a checkpoint that does not fit fails in seconds, not minutes
        from swinprof.track.bench_accuracy import suite_accuracy

        say = None if args.quiet else (lambda m: err_console.print(f"[dim]… {m}[/dim]"))
        accuracy = suite_accuracy(suite, images, args.weights, args.eval_batch, say)
    # auto_refresh=False: no refresh thread burning CPU inside the timed rounds; we refresh between rounds.
    with Progress(
        console=err_console, transient=True, disable=args.quiet or not err_console.is_terminal, auto_refresh=False
    ) as progress:
        task = progress.add_task(f"{suite.name}: {len(suite.cases)} cases", total=samples)
        results = run_suite(
            suite,
            samples=samples,
            warmup=args.warmup,
            planted_slowdown=args.planted_slowdown,
            processes=args.processes,
            on_round=lambda i: progress.update(task, completed=i, refresh=True),
            weights=args.weights,
        )
    if accuracy:
        from swinprof.track.bench_accuracy import attach_accuracy

        attach_accuracy(results, accuracy)
    save_results(results, args.output)
    if results.extra.get("inductor_cache_repair"):  # said even with --quiet: files were removed from a shared cache
        err_console.print(results.extra["inductor_cache_repair"], markup=False, highlight=False)
    if not args.quiet:
        show_report(_summary(results, accuracy, suite.name, args.output), args.format)
    return 0


def _summary(results, accuracy: dict[str, dict], name: str, output: str) -> Report:
    """Per case: wall and CPU medians and spread, and top-1 where --data measured it; the calibration beside."""
    import pandas as pd

    from swinprof.measure.stats import percentile
    from swinprof.report.document import Report

    rows = [
        {
            "case": c.id,
            "median ms": c.median_ms,
            "p10 ms": percentile(c.samples_ms, 10),
            "p90 ms": percentile(c.samples_ms, 90),
            "median cpu ms": statistics.median(c.cpu_ms) if c.cpu_ms else None,
            "n": len(c.samples_ms),
            **({"top-1 %": 100 * accuracy[c.id]["top1"] / accuracy[c.id]["images"]} if accuracy else {}),
        }
        for c in results.cases
    ]
    cal = results.calibration_ms
    cal_cpu = results.calibration_samples("cpu")
    rows.append({"case": "calibration", "median ms": statistics.median(cal), "p10 ms": percentile(cal, 10),
                 "p90 ms": percentile(cal, 90), "median cpu ms": statistics.median(cal_cpu) if cal_cpu else None,
                 "n": len(cal)})  # fmt: skip
    report = Report(f"{name}: {results.duration_s:.1f} s -> {output}", environment=results.environment)
    if results.planted_slowdown != 1.0:
        report.warnings.append(f"PLANTED slowdown x{results.planted_slowdown:g}: for testing the detector only")
    notes = [f"{len(cal)} interleaved rounds over {results.extra.get('processes', 1)} fresh processes; the "
             "calibration workload runs once per round beside the cases"]  # fmt: skip
    if accuracy:
        first = next(iter(accuracy.values()))
        notes.append(f"top-1 %: each case's model as timed, evaluated once (not timed) over {first['data']}; "
                     "per-image correctness and image ids are in the results file for regress")  # fmt: skip
    report.add("cases", "Per case (wall and process CPU time, ms)", pd.DataFrame(rows), notes)
    return report


def _check_memory(suite) -> None:
    """Every case of a suite is built in one process at once: their estimated memory together must fit."""
    from swinprof.measure.resources import require_memory
    from swinprof.track.recipe_case import is_recipe_case

    def need(c) -> int:
        if is_recipe_case(c.recipe):  # a preset: the fp32 model and its prepared copy, held together
            return v.estimated_bytes(c.model, c.res, c.batch, attn=c.attn, overrides=c.config, copies=2)
        return v.estimated_bytes(c.model, c.res, c.batch, dtype=c.dtype, attn=c.attn, overrides=c.config)

    total = sum(need(c) for c in suite.cases)
    require_memory(total, f"suite {suite.name!r} ({len(suite.cases)} cases built at once)",
                   "use smaller batch or res in the suite, or split it", device=suite.device)  # fmt: skip
