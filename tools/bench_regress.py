"""Benchmark of `swinprof regress` at ImageNet scale (issue #31.8): two results files of N paired images x R
recipe cases, each case with per-image top-1 correctness and image ids, then `swinprof regress` on them in a fresh
process, timed by wall clock. Acceptance: 50,000 images x 6 recipes in under 5 s on 2 cores.

    python tools/bench_regress.py                      # 50,000 images x 6 recipes, files in a temporary folder
    python tools/bench_regress.py --images 200000      # the size that did not finish in 120 s before

The files are synthetic but shaped like a real run: ImageNet-style ids (`n01440764/ILSVRC2012_val_00000293.JPEG`),
an fp32 case near 81% top-1 and int8-like cases that disagree with it on 1-3% of the images (some a planted
drop, so both the paired test and its interval do real work), 60 latency samples per case. The current file lists
its images in another order than the baseline (as a sharded run's gather may), so pairing aligns by id. Timing
numbers from a loaded machine are not the figure: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROUNDS = 60
RECIPES = ("fp32-eager", "int8-x86-cpu", "int8-dynamic", "openvino-int8", "onnx-ort-int8", "trt-int8-onnx",
           "int8-weight-only")


def _ids(n: int) -> list[str]:
    return [f"n{1440764 + i % 1000:08d}/ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(n)]


def _correct(rng: np.random.Generator, n: int, recipes: int, drop: float) -> list[np.ndarray]:
    """fp32 right on ~81%; each recipe flips 1-3% of the images, losing `drop` of them more than it gains."""
    base = rng.random(n) < 0.81
    out = [base]
    for r in range(1, recipes):
        flip = rng.random(n) < 0.01 + 0.004 * r
        lose = flip & base & (rng.random(n) < 0.5 + drop)
        gain = flip & ~base
        out.append((base & ~lose) | gain)
    return out


def results_doc(n: int, recipes: int, seed: int, drop: float, order: np.ndarray | None) -> dict:
    """One results file (schema 1) as a dict."""
    rng = np.random.default_rng(seed)
    ids = np.array(_ids(n), dtype=object)
    correct = _correct(np.random.default_rng(0), n, recipes, drop)  # the images' truth is shared by both files
    order = np.arange(n) if order is None else order
    cal = (2.0 * np.exp(rng.normal(0, 0.02, ROUNDS))).tolist()
    cases, data = [], f"val: {n} images (imagenet-synsets)"
    for r in range(recipes):
        case_id = f"swin_t/224/b1/reference/{RECIPES[r % len(RECIPES)]}{'' if r < len(RECIPES) else f'-{r}'}"
        c = correct[r][order]
        cases.append({"id": case_id, "model": "swin_t", "res": 224, "batch": 1, "attn": "reference",
                      "recipe": RECIPES[r % len(RECIPES)], "name": None, "config": {},
                      "samples_ms": (40.0 * np.exp(rng.normal(0, 0.03, ROUNDS))).tolist(),
                      "cpu_ms": (39.0 * np.exp(rng.normal(0, 0.03, ROUNDS))).tolist(),
                      "accuracy": {"images": n, "top1": int(c.sum()), "correct": c.astype(int).tolist(),
                                   "ids": ids[order].tolist(), "data": data}})  # fmt: skip
    suite = {"name": "imagenet-scale", "device": "cpu", "metric": "wall", "identity": "bench", "cases": []}
    env = {"torch": "bench", "cpu": "bench CPU", "cpu_features": "avx2", "threads": 2, "device": "cpu"}
    return {"schema_version": 1, "kind": "swinprof-bench-results", "suite": suite, "environment": env,
            "calibration": {"workload": "w", "samples_ms": cal, "cpu_ms": cal}, "cases": cases,
            "planted_slowdown": 1.0, "duration_s": 1.0}  # fmt: skip


def write_pair(folder: Path, n: int, recipes: int) -> tuple[Path, Path]:
    """The baseline and the current file (the current in a shuffled image order, recipes dropping more)."""
    base, new = folder / "baseline.json", folder / "current.json"
    base.write_text(json.dumps(results_doc(n, recipes, 1, 0.0, None)))
    shuffled = np.random.default_rng(2).permutation(n)
    new.write_text(json.dumps(results_doc(n, recipes, 2, 0.2, shuffled)))
    return base, new


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50_000, help="paired images per case (default 50,000)")
    p.add_argument("--recipes", type=int, default=6, help="cases (recipes) per file (default 6)")
    p.add_argument("--keep", metavar="DIR", help="write the files here and keep them")
    p.add_argument("--repeat", type=int, default=3, help="timed regress runs (default 3; the median is the figure)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="swinprof-bench-regress-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        base, new = write_pair(folder, args.images, args.recipes)
        mib = (base.stat().st_size + new.stat().st_size) / 2**20
        print(f"{args.images:,} paired images x {args.recipes} recipes: two files, {mib:.1f} MiB together")
        cmd = [sys.executable, "-m", "swinprof", "regress", str(base), str(new), "--format", "markdown",
               "--report-only"]  # fmt: skip
        walls = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
                return done.returncode
            print(f"run {i + 1}: {walls[-1]:.2f} s wall (process start, imports, reading both files, statistics, "
                  "report)")  # fmt: skip
        paired = done.stdout.count("McNemar exact (paired)")
        print(f"median {sorted(walls)[len(walls) // 2]:.2f} s over {len(walls)} runs; {paired} of {args.recipes} "
              "cases paired by image id; acceptance: under 5 s for 50,000 x 6 on 2 cores")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
