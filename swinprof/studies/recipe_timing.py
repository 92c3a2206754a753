"""The timing step of a recipe run: every model's first call, then all models timed interleaved per batch size.

Usable on its own (a batch-ladder study times prepared recipes the same way): `time_interleaved` takes the
callables by name and returns a `TimedRun`; `first_calls` times the first call (the compile) of each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from swinprof.measure.memory import forward_tensor_peak
from swinprof.measure.timing import SETTLE_MS, Timing, measure_interleaved, time_once
from swinprof.optimize.methods import get_runtime
from swinprof.optimize.recipe import Recipe


@dataclass(frozen=True)
class TimedRun:
    """Interleaved timings and tensor peaks per (model name, batch size), and how they were taken.

    `tensor_peaks`: live-storage bytes of one forward, None where the meter cannot see the kernels
    (`meters_tensor_peak`); `settle_ms`: idle time before each timed call."""

    timings: dict[tuple[str, int], Timing]
    tensor_peaks: dict[tuple[str, int], int | None]
    warmup: int
    iters: int
    settle_ms: float


def meters_tensor_peak(r: Recipe) -> bool:
    """Whether the tensor-peak meter sees `r`'s kernels: eager runs through PyTorch's dispatcher only; compiled
    graphs, ONNX Runtime and TensorRT allocate outside it."""
    return get_runtime(r.target.runtime).spec.dispatcher and r.compile.backend == "none"


def settle_ms(recipes: Sequence[Recipe], device: torch.device) -> float:
    """Idle time before each timed call: `SETTLE_MS` when CPU recipes run on more than one runtime (their thread
    pools spin-wait after a call and would share the cores with the next runtime's call), else 0."""
    return SETTLE_MS if device.type == "cpu" and len({r.target.runtime for r in recipes}) > 1 else 0.0


@contextlib.contextmanager
def bench_locked(path: str | None, say: Callable[[str], None]):
    """Hold an exclusive flock on `path` (so one benchmark times at a time); no-op without a path."""
    if not path:
        yield
        return
    import fcntl

    with open(path, "a") as f:
        say(f"waiting for the benchmark lock {path}")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def first_calls(
    fns: Mapping[str, Callable], batch_sizes: Sequence[int], shape: tuple[int, ...], device
) -> dict[tuple[str, int], float]:
    """Seconds of the first call of each callable at each batch size (includes compilation where there is one)."""
    out = {}
    for b in batch_sizes:
        x = torch.randn(b, *shape).to(device)
        for name, fn in fns.items():
            with torch.inference_mode():
                out[(name, b)] = time_once(lambda fn=fn, x=x: fn(x), device) / 1e3
    return out


def time_interleaved(
    fns: Mapping[str, Callable],
    recipes: Sequence[Recipe],
    batch_sizes: Sequence[int],
    shape: tuple[int, ...],
    device: torch.device,
    bench_lock: str | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> TimedRun:
    """Time every callable of `fns` (name -> `(B, *shape)` -> logits) interleaved at each batch size, with the
    most warm-up calls and iterations any of `recipes` asks, and the tensor peak of one forward where the meter
    sees it (a name without a recipe is eager fp32: the baseline). Holds `bench_lock` while timing."""
    warmup = max(r.benchmark.warmup for r in recipes)
    iters = max(r.benchmark.iters for r in recipes)
    settle = settle_ms(recipes, device)
    by_name = {r.name: r for r in recipes}
    timings, peaks = {}, {}
    with bench_locked(bench_lock, say):
        for b in batch_sizes:
            say(f"timing batch {b}: {len(fns)} models interleaved, {warmup} warmup + {iters} iterations")
            x = torch.randn(b, *shape).to(device)
            calls = {n: (lambda fn=fn, x=x: fn(x)) for n, fn in fns.items()}
            t = measure_interleaved(calls, warmup, iters, device, settle_ms=settle)
            for name, fn in fns.items():
                timings[(name, b)] = t[name]
                recipe = by_name.get(name)
                seen = recipe is None or meters_tensor_peak(recipe)
                peaks[(name, b)] = forward_tensor_peak(lambda fn=fn, x=x: fn(x), device) if seen else None
    return TimedRun(timings, peaks, warmup, iters, settle)
