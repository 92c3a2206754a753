"""Interleaved timing: round-robin order, and the idle time before each timed call kept out of its sample."""

from __future__ import annotations

import pytest

from swinprof.measure import timing
from swinprof.measure.timing import measure_interleaved


class FakeClock:
    """A clock only the calls and the idle time move: samples are exact, whatever the machine's load."""

    def __init__(self) -> None:
        self.now, self.events = 0.0, []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.events.append(("idle", seconds))
        self.now += seconds

    def call(self, name: str, ms: float):
        def run():
            self.events.append(("call", name))
            self.now += ms / 1e3

        return run


def _timed_with(monkeypatch, settle_ms: float) -> tuple[FakeClock, dict]:
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock.perf_counter)
    monkeypatch.setattr(timing.time, "sleep", clock.sleep)
    fns = {"a": clock.call("a", 3.0), "b": clock.call("b", 5.0)}
    return clock, measure_interleaved(fns, warmup=1, iters=3, settle_ms=settle_ms)


def test_settle_idles_before_each_timed_call_and_is_not_timed(monkeypatch):
    clock, timings = _timed_with(monkeypatch, settle_ms=20.0)
    timed = clock.events[2:]  # after one warm-up call each
    assert timed == [("idle", 0.020), ("call", "a"), ("idle", 0.020), ("call", "b")] * 3
    assert timings["a"].samples_ms == pytest.approx([3.0] * 3)  # the idle is not in the sample
    assert timings["b"].samples_ms == pytest.approx([5.0] * 3)


def test_no_settle_times_back_to_back(monkeypatch):
    clock, timings = _timed_with(monkeypatch, settle_ms=0.0)
    assert clock.events == [("call", "a"), ("call", "b")] * 4
    assert timings["b"].samples_ms == pytest.approx([5.0] * 3)
