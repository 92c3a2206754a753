"""The timing harness: warm up, then time many iterations; CUDA with events and synchronisation."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from swinprof.measure.stats import percentile


@dataclass
class Timing:
    """Latency samples of one measured callable, in milliseconds."""

    samples_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def percentile(self, q: float) -> float:
        """Linear-interpolated percentile, q in [0, 100] (`measure.stats.percentile`: one rule everywhere)."""
        return percentile(self.samples_ms, q)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples_ms)

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.samples_ms) if len(self.samples_ms) > 1 else 0.0

    @property
    def min(self) -> float:
        return min(self.samples_ms)


# Idle before each timed call where runtimes with their own thread pools are interleaved (`settle_ms`);
# libgomp's default spin-wait (300k spins) and TBB's are over well within it.
SETTLE_MS = 50.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """One call of `fn`, in ms. On CUDA timed with events between synchronisations."""
    device = torch.device(device)
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        _sync(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def measure(
    fn: Callable[[], object],
    warmup: int = 3,
    iters: int = 10,
    device: torch.device | str = "cpu",
    on_iter: Callable[[], None] | None = None,
    grad: bool = False,
) -> Timing:
    """Call `fn` `warmup` times untimed, then `iters` times timed. `on_iter` advances a progress bar.

    Runs under `torch.inference_mode()` unless `grad=True` (training steps).
    """
    device = torch.device(device)
    with contextlib.nullcontext() if grad else torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        samples = []
        for _ in range(iters):
            samples.append(time_once(fn, device))
            if on_iter is not None:
                on_iter()
    return Timing(samples)


def measure_interleaved(
    fns: dict[str, Callable[[], object]],
    warmup: int = 3,
    iters: int = 10,
    device: torch.device | str = "cpu",
    on_iter: Callable[[], None] | None = None,
    grad: bool = False,
    settle_ms: float = 0.0,
) -> dict[str, Timing]:
    """Time several callables round-robin so machine noise hits them alike (ratios stay honest).

    `settle_ms`: idle this long, untimed, before each timed call. Runtimes with their own thread pools
    (PyTorch's OpenMP, OpenVINO's TBB) keep their workers spin-waiting for a while after a call; timed right
    after another runtime, a model shares the cores with those spinning threads and looks slower than it runs
    alone (OpenVINO vs PyTorch eager on swin_s, 2 cores: 1.31-1.38x back to back, 1.39-1.50x with 50 ms idle
    between calls, five pairs of runs).
    """
    device = torch.device(device)
    out = {name: Timing() for name in fns}
    with contextlib.nullcontext() if grad else torch.inference_mode():
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        _sync(device)
        for _ in range(iters):
            for name, fn in fns.items():
                if settle_ms:
                    time.sleep(settle_ms / 1e3)
                out[name].samples_ms.append(time_once(fn, device))
                if on_iter is not None:
                    on_iter()
    return out
