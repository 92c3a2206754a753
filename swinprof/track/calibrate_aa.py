"""The detector's acceptance experiment: A/A false alarms and planted-slowdown detection on this machine.

`python -m swinprof.track.calibrate_aa --runs 20 --out reports/regression_aa.md` runs the CI suite as separate
processes (`swinprof bench`, fresh interpreter each) in the order B, B, P repeated: each pair of B runs is one
A/A comparison (same code, separate runs); each P run (planted slowdown, default x1.15) is compared against the
first B of its triple. Then every comparison goes through `compare_results` exactly as `swinprof regress` does,
and the counts go to a markdown report. Run it under the shared bench lock:
`flock /tmp/swinprof-bench.lock python -m swinprof.track.calibrate_aa`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swinprof.files import atomic_write_text, ensure_writable_dir
from swinprof.measure.environment import cpu_model
from swinprof.measure.stats import IMPROVEMENT, REGRESSION, UNCERTAIN
from swinprof.track.regress import METRICS, NORMALISATIONS, compare_results
from swinprof.track.results import Results, load_results


def bench_once(suite: str, out: Path, samples: int | None, slowdown: float) -> None:
    """One `swinprof bench` in a fresh interpreter: a separate run in every sense (allocator, threads, caches)."""
    cmd = [sys.executable, "-m", "swinprof.cli.main", "bench", suite, "-o", str(out), "--quiet"]
    if samples:
        cmd += ["--samples", str(samples)]
    if slowdown != 1.0:
        cmd += ["--planted-slowdown", str(slowdown)]
    subprocess.run(cmd, check=True)


def run_experiment(suite: str, runs: int, workdir: Path, samples: int | None, slowdown: float, log=None):
    """`runs` triples (B, B, P): returns lists of (baseline, current) result paths for A/A and planted."""
    aa, planted = [], []
    for i in range(runs):
        b1, b2, p = (workdir / f"{i:02d}-{tag}.json" for tag in ("base1", "base2", "planted"))
        bench_once(suite, b1, samples, 1.0)
        bench_once(suite, b2, samples, 1.0)
        bench_once(suite, p, samples, slowdown)
        aa.append((b1, b2))
        planted.append((b1, p))
        if log:
            log(f"triple {i + 1}/{runs} done")
    return aa, planted


def tally(pairs: list[tuple[Results, Results]], threshold: float, metric: str, normalisation: str) -> dict:
    """Counts over comparisons: a comparison is a regression when ANY case is; detected when ALL cases are."""
    any_reg = all_reg = any_unc = any_imp = 0
    ratios: list[list[float]] = []
    for base, new in pairs:
        cmp = compare_results(base, new, threshold=threshold, normalisation=normalisation, metric=metric)
        verdicts = [c.decision.verdict for c in cmp.cases]
        any_reg += REGRESSION in verdicts
        all_reg += all(v == REGRESSION for v in verdicts)
        any_unc += UNCERTAIN in verdicts
        any_imp += IMPROVEMENT in verdicts
        ratios.append([c.decision.ratio for c in cmp.cases])
    flat = [r for rs in ratios for r in rs]
    return {"n": len(pairs), "any_regression": any_reg, "all_regression": all_reg, "any_uncertain": any_unc,
            "any_improvement": any_imp, "ratio_min": min(flat), "ratio_median": statistics.median(flat),
            "ratio_max": max(flat), "ratios": ratios}  # fmt: skip


def render(aa: dict, planted: dict, meta: dict) -> str:
    """The markdown report: one row per normalisation, for A/A and for the planted slowdown."""
    lines = [
        "# Regression detector: A/A and planted-slowdown experiment",
        "",
        f"Measured {meta['date']} on {meta['machine']} (shared by other jobs while it ran), suite "
        f"`{meta['suite']}`, {meta['runs']} A/A comparisons and {meta['runs']} planted x{meta['slowdown']:g} "
        f"comparisons, threshold {meta['threshold']:.0%}, alpha 0.01, {meta['samples']} samples per case per run, "
        f"{meta['minutes']:.1f} min. Every run is a separate `swinprof bench` process. A comparison counts as a "
        "false regression when ANY case says regression; the planted slowdown counts as detected only when ALL "
        "cases say regression.",
        "",
        "| metric | normalisation | A/A false regressions | A/A uncertain | A/A improvements "
        "| A/A ratio min / median / max | planted detected | planted uncertain | planted ratio min / median / max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in aa:
        a, p = aa[key], planted[key]
        metric, mode = key
        suite_tag, default_tag = " (suite)" if metric == meta["metric"] else "", " (default)" if mode == "round" else ""
        lines.append(
            f"| {metric}{suite_tag} | {mode}{default_tag} "
            f"| {a['any_regression']} / {a['n']} "
            f"| {a['any_uncertain']} | {a['any_improvement']} "
            f"| {a['ratio_min']:.3f} / {a['ratio_median']:.3f} / {a['ratio_max']:.3f} "
            f"| {p['all_regression']} / {p['n']} | {p['any_uncertain']} "
            f"| {p['ratio_min']:.3f} / {p['ratio_median']:.3f} / {p['ratio_max']:.3f} |"
        )
    default = (meta["metric"], "round")
    lines += ["", f"Per-comparison ratios ({default[0]} metric, per-round normalisation, one value per case):", "",
              "| # | A/A | planted |", "|---|---|---|"]  # fmt: skip
    for i, (ra, rp) in enumerate(zip(aa[default]["ratios"], planted[default]["ratios"])):
        lines.append(f"| {i + 1} | {', '.join(f'{r:.3f}' for r in ra)} | {', '.join(f'{r:.3f}' for r in rp)} |")
    lines += ["", "Reproduce: `flock /tmp/swinprof-bench.lock python -m swinprof.track.calibrate_aa`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="recipes/suites/ci-bench-tiny.toml")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--samples", type=int, default=None, help="rounds per run (default: the suite's)")
    ap.add_argument("--slowdown", type=float, default=1.15)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--keep", default=None, help="directory to keep the result files in (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true", help="analyse result files already in --keep, do not measure")
    ap.add_argument("--out", default="reports/regression_aa.md")
    args = ap.parse_args(argv)
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="swinprof-aa-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.reuse:
        aa = [(workdir / f"{i:02d}-base1.json", workdir / f"{i:02d}-base2.json") for i in range(args.runs)]
        planted = [(workdir / f"{i:02d}-base1.json", workdir / f"{i:02d}-planted.json") for i in range(args.runs)]
    else:
        aa, planted = run_experiment(args.suite, args.runs, workdir, args.samples, args.slowdown,
                                     log=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
    minutes = (time.perf_counter() - t0) / 60
    load = {p: load_results(p) for pair in aa + planted for p in pair}
    aa_r = [(load[a], load[b]) for a, b in aa]
    pl_r = [(load[a], load[b]) for a, b in planted]
    keys = [(metric, mode) for metric in METRICS for mode in NORMALISATIONS]
    stats_aa = {k: tally(aa_r, args.threshold, *k) for k in keys}
    stats_pl = {k: tally(pl_r, args.threshold, *k) for k in keys}
    first = aa_r[0][0]
    meta = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()}-core CPU, {cpu_model()}",
            "suite": first.suite_name, "runs": len(aa), "slowdown": args.slowdown, "threshold": args.threshold,
            "samples": len(first.cases[0].samples_ms), "minutes": minutes,
            "metric": first.suite.get("metric", "wall")}  # fmt: skip
    ensure_writable_dir(Path(args.out).parent)
    atomic_write_text(args.out, render(stats_aa, stats_pl, meta))
    print(f"wrote {args.out} (result files in {workdir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
