"""Benchmark worker processes: `runner.run_suite(processes=N)` measures its rounds in N fresh interpreters, one
after another, through the one fresh-process runner (`swinprof.measure.isolated`). Workers die with the parent."""

from __future__ import annotations

from swinprof.measure.isolated import run_isolated
from swinprof.track.suite import Suite, suite_from_dict


def measure_in_worker(
    suite: Suite, samples: int, warmup: int, planted_slowdown: float, seed: int, weights: str | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict]:
    """Run `measure_in_process` in a fresh interpreter; `(wall_ms, cpu_ms, environment)`.

    The allocator is inherited, not pinned: timing runs as the user's process would.
    """
    job = {"suite": suite.to_dict(), "samples": samples, "warmup": warmup, "slowdown": planted_slowdown, "seed": seed,
           "weights": weights}  # fmt: skip
    out = run_isolated("swinprof.track.worker:measure_job", job, allocator_env=None).value
    return out["wall"], out["cpu"], out["environment"]


def measure_job(suite: dict, samples: int, warmup: int, slowdown: float, seed: int, weights: str | None = None) -> dict:
    """The worker's side: measure a suite given as a dict; JSON-able samples and environment."""
    from swinprof.track.bench_rounds import measure_in_process

    wall, cpu, env = measure_in_process(suite_from_dict(suite), samples, warmup, slowdown, seed, weights=weights)
    return {"wall": wall, "cpu": cpu, "environment": env}
