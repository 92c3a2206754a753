"""Per-stage latency, memory and efficiency.

Stages are timed by running each step on its cached input (computed once), round-robin, so machine noise
hits every stage alike and the per-round sum is a sample of the whole forward. MACs, params and the CPU
memory figure come from the counting pass (`CostTrace`); on CUDA, memory comes from the allocator's peak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from swinprof.measure.memory import TENSOR_PEAK, forward_tensor_peak
from swinprof.measure.peaks import Ceiling
from swinprof.measure.timing import Timing, measure_interleaved
from swinprof.profile.grouping import StageSpec, as_stages, run_stages
from swinprof.profile.macs import CostTrace

MIB = 2**20  # the tensor peak in MiB, as attention, memory and run print it


@dataclass
class StageTimings:
    """Latency samples per stage (ms), the per-round total, and CUDA peak bytes per stage (None on CPU)."""

    timings: dict[str, Timing]
    total: Timing
    cuda_peak_bytes: dict[str, int] | None = None
    warmup: int = 0
    iters: int = 0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)


def _cuda_stage_memory(stage_list, inputs, device: torch.device) -> dict[str, int]:
    """Tensor peak of each stage on CUDA (the allocator's), its input included as on CPU."""
    return {
        stage.name: forward_tensor_peak(lambda s=stage, x=x: s.fn(x), device) + x.numel() * x.element_size()
        for stage, x in zip(stage_list, inputs)
    }


def time_stages(
    model: nn.Module,
    example_input: torch.Tensor,
    stages: Sequence[StageSpec] | None = None,
    warmup: int = 2,
    iters: int = 10,
    on_iter: Callable[[], None] | None = None,
) -> StageTimings:
    """Time every stage `iters` times after `warmup` untimed calls; `on_iter` is called once per stage call."""
    if iters < 1 or warmup < 0:
        raise ValueError("need iters >= 1 and warmup >= 0")
    device = example_input.device
    stage_list = as_stages(model, stages)
    with torch.inference_mode():
        inputs = run_stages(stage_list, example_input)[:-1]
        memory = _cuda_stage_memory(stage_list, inputs, device) if device.type == "cuda" else None
    fns = {s.name: (lambda s=s, x=x: s.fn(x)) for s, x in zip(stage_list, inputs)}
    timings = measure_interleaved(fns, warmup=warmup, iters=iters, device=device, on_iter=on_iter)
    total = Timing([sum(t.samples_ms[i] for t in timings.values()) for i in range(iters)])
    return StageTimings(timings, total, memory, warmup, iters, device.type)


def _share(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else float("nan")


NAN = float("nan")


def _latency(t: Timing | None, macs: int, peak: Ceiling | None) -> dict:
    if t is None:
        return {"median (ms)": NAN, "p90 (ms)": NAN, "GFLOP/s": NAN, "% of peak": NAN}
    gflops = 2 * macs / (t.median / 1e3) / 1e9 if t.median > 0 else NAN
    return {
        "median (ms)": t.median,
        "p90 (ms)": t.p90,
        "GFLOP/s": gflops,
        "% of peak": _share(gflops, peak.gflops) if peak else NAN,
    }


def _row(name: str, shape: tuple, params: int, macs: int, total_macs: int, mem_bytes: float) -> dict:
    return {
        "stage": name,
        "output shape": str(list(shape)),
        "params": int(params),
        "MACs": int(macs),
        "GMACs": macs / 1e9,
        "MACs %": _share(macs, total_macs),
        "tensor peak (MiB)": mem_bytes / MIB,
    }


def stage_table(trace: CostTrace, timings: StageTimings | None = None, peak: Ceiling | None = None) -> pd.DataFrame:
    """One row per stage plus a `total` row. MACs are for the whole batch; latency in ms.

    Columns: stage, output shape, params, MACs, GMACs, MACs %, tensor peak (MiB), median/p90 (ms), GFLOP/s
    (achieved: 2 x MACs / median), % of peak (the GEMM probe), time % (of the sum of stage medians).
    The total row's latency is the median of per-round sums. `df.attrs["memory_method"]` names the
    memory measurement.
    """
    total_macs = trace.total_macs
    cuda_mem = timings.cuda_peak_bytes if timings else None
    sum_ms = sum(t.median for t in timings.timings.values()) if timings else NAN
    rows = []
    for s in trace.stages:
        t = timings.timings.get(s.name) if timings else None
        mem = cuda_mem[s.name] if cuda_mem else s.tensor_peak_bytes
        row = _row(s.name, s.output_shape, s.params, s.macs, total_macs, mem)
        row.update(_latency(t, s.macs, peak), **{"time %": _share(t.median, sum_ms) if t else NAN})
        rows.append(row)
    if rows:
        peak_mem = max(r["tensor peak (MiB)"] for r in rows) * MIB
        params = sum(s.params for s in trace.stages)
        total = _row("total", trace.stages[-1].output_shape, params, total_macs, total_macs, peak_mem)
        total.update(
            _latency(timings.total if timings else None, total_macs, peak), **{"time %": 100.0 if timings else NAN}
        )
        rows.append(total)
    df = pd.DataFrame(rows)
    df.attrs["memory_method"] = TENSOR_PEAK
    return df
