"""Synthetic results files for the regression tests: known distributions, no benchmarking."""

from __future__ import annotations

import numpy as np
import pytest

from swinprof.track.results import CaseResult, Results

CASES = ("tiny:swin_t/64/b2/reference/fp32-eager", "tiny:swinv2_t_w8/64/b2/reference/fp32-eager")
ENV = {"torch": "2.13.0+cpu", "cpu": "AMD EPYC", "threads": 1, "device": "cpu", "gpu": None,
       "git_sha": "a" * 40, "git_dirty": False, "timestamp": "2026-11-25T04:00:00+00:00"}  # fmt: skip


def lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> list[float]:
    return [float(v) for v in median * np.exp(rng.normal(0.0, sigma, n))]


@pytest.fixture
def make_results():
    """`make_results(seed, scale=1.0, sigma=0.02, n=40, suite="ci-bench-tiny", env={...}, cases=CASES)`."""

    def make(seed: int, scale: float = 1.0, sigma: float = 0.02, n: int = 40, suite: str = "ci-bench-tiny",
             env: dict | None = None, cases=CASES, metric: str = "cpu") -> Results:  # fmt: skip
        rng = np.random.default_rng(seed)
        cal = lognormal(rng, 2.0, sigma, n)
        out = []
        for i, cid in enumerate(cases):
            wall = lognormal(rng, (4.0 + i) * scale, sigma, n)
            cpu = lognormal(rng, (3.9 + i) * scale, sigma, n)
            out.append(CaseResult(cid, {"model": "swin_t", "res": 64, "config": {"embed_dim": 32}}, wall, cpu))
        suite_d = {"name": suite, "device": "cpu", "metric": metric, "identity": "x", "cases": []}
        return Results(suite_d, {**ENV, **(env or {})}, {"workload": "w", "samples_ms": cal, "cpu_ms": list(cal)}, out)

    return make
