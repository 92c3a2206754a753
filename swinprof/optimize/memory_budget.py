"""The largest batch whose training step fits a memory budget: exponential search, then binary search.

The budget is held against the tensor peak (`measure.memory.TENSOR_PEAK`; CUDA: `max_memory_allocated`) of a
steady-state training step: parameters, gradients, AdamW state, the batch and the step's tensors. Every
candidate is a real measured training step (`measure_step_memory`) in this process. On CPU a candidate whose
tensor peak, extrapolated linearly from the two largest measured batches, exceeds the budget by more than 25%
is not run (it would only allocate far past the budget to say "no"); the probe list marks it `extrapolated`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch

from swinprof.errors import MemoryOptionError
from swinprof.models.swin import SwinTransformer
from swinprof.optimize.memory_options import (
    MemoryConfig,
    make_batch,
    make_optimizer,
    measure_step_memory,
    train_step,
    window_tokens,
)

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(text: str) -> int:
    """`8GiB`, `512MiB`, `2GB`, `1000000` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise MemoryOptionError(f"cannot read memory size {text!r}: write e.g. 8GiB, 512MiB, 2GB")
    number = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(number):
        raise MemoryOptionError(f"memory size {text!r} is too large: write e.g. 8GiB, 512MiB, 2GB")
    value = int(number)
    if value <= 0:
        raise MemoryOptionError(f"memory budget must be positive, got {text!r}")
    return value


@dataclass
class BudgetResult:
    """The largest fitting batch, its tensor peak and the budget (bytes), and every probe in search order."""

    batch: int
    peak: int
    budget: int
    probes: list[tuple[int, int | None, str]] = field(default_factory=list)  # (batch, tensor peak, measured|...)


def largest_batch(
    model: SwinTransformer,
    config: MemoryConfig,
    res: int,
    device: torch.device,
    budget: int,
    max_batch: int = 4096,
) -> BudgetResult:
    """Largest batch <= max_batch whose training-step tensor peak is <= budget bytes; error if batch 1 does not fit."""
    model.train()
    config.apply(model)
    optimizer = make_optimizer(model)
    train_step(model, optimizer, *make_batch(model, 1, res, device))  # warm AdamW state, counted in every peak
    tokens = window_tokens(model)
    probes: list[tuple[int, int | None, str]] = []
    measured: dict[int, int] = {}

    def peak_of(b: int) -> int | None:
        guess = _extrapolate(measured, b)
        if device.type != "cuda" and guess is not None and guess > 1.25 * budget:
            probes.append((b, guess, "extrapolated"))
            return guess
        try:
            peak = measure_step_memory(model, optimizer, *make_batch(model, b, res, device), tokens).tensor_peak
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            probes.append((b, None, "out of memory"))
            return None
        measured[b] = peak
        probes.append((b, peak, "measured"))
        return peak

    def fits(b: int) -> bool:
        peak = peak_of(b)
        return peak is not None and peak <= budget

    if not fits(1):
        need = probes[0][1]
        shown = f"{need / 2**30:.2f} GiB" if need else "more than the device has"
        raise MemoryOptionError(
            f"budget {budget / 2**30:.2f} GiB is too small for batch 1 ({config.label}): one training step "
            f"needs {shown}; raise --budget or add --checkpoint / --seq-attn"
        )
    lo = 1
    while lo * 2 <= max_batch and fits(lo * 2):
        lo *= 2
    hi = min(lo * 2, max_batch + 1)  # first batch known (or assumed, at max_batch) not to fit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return BudgetResult(lo, measured[lo], budget, probes)


def _extrapolate(measured: dict[int, int], b: int) -> int | None:
    if len(measured) < 2:
        return None
    (b1, p1), (b2, p2) = sorted(measured.items())[-2:]
    slope = (p2 - p1) / (b2 - b1)
    return int(p2 + slope * (b - b2))
