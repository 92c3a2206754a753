"""Interleaved timing: round-robin order, and the idle time before each timed call kept out of its sample."""

from __future__ import annotations

import itertools
import time

from swinprof.measure.timing import measure_interleaved


def test_settle_idles_before_each_timed_call_and_is_not_timed():
    starts: list[tuple[str, float]] = []

    def call(name):
        return lambda: starts.append((name, time.perf_counter()))

    timings = measure_interleaved({"a": call("a"), "b": call("b")}, warmup=1, iters=3, settle_ms=20.0)
    timed = starts[2:]  # after one warm-up call each
    assert [name for name, _ in timed] == ["a", "b"] * 3
    gaps = [t1 - t0 for (_, t0), (_, t1) in itertools.pairwise(timed)]
    assert min(gaps) >= 0.020
    assert all(len(t.samples_ms) == 3 and max(t.samples_ms) < 20.0 for t in timings.values())


def test_no_settle_times_back_to_back():
    starts: list[float] = []
    measure_interleaved({"a": lambda: starts.append(time.perf_counter())}, warmup=0, iters=5)
    assert max(t1 - t0 for t0, t1 in itertools.pairwise(starts)) < 0.020
