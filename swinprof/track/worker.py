"""A benchmark worker process: `python -m swinprof.track.worker` reads a job (JSON) on stdin, measures, and
writes the samples (JSON) on stdout. `runner.run_suite(processes=N)` starts N of these one after another."""

from __future__ import annotations

import json
import subprocess
import sys

from swinprof.errors import SwinprofError
from swinprof.track.suite import Suite, suite_from_dict


def measure_in_worker(
    suite: Suite, samples: int, warmup: int, planted_slowdown: float, seed: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict]:
    """Run `measure_in_process` in a fresh interpreter; `(wall_ms, cpu_ms, environment)`."""
    job = {"suite": suite.to_dict(), "samples": samples, "warmup": warmup, "slowdown": planted_slowdown, "seed": seed}
    proc = subprocess.run(
        [sys.executable, "-m", "swinprof.track.worker"], input=json.dumps(job), capture_output=True, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SwinprofError(f"benchmark worker process failed (exit {proc.returncode}): {last}")
    out = json.loads(proc.stdout)
    return out["wall"], out["cpu"], out["environment"]


def main() -> int:
    from swinprof.track.runner import measure_in_process

    job = json.loads(sys.stdin.read())
    wall, cpu, env = measure_in_process(
        suite_from_dict(job["suite"]), job["samples"], job["warmup"], job["slowdown"], job["seed"]
    )
    json.dump({"wall": wall, "cpu": cpu, "environment": env}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
