"""The roofline: bytes, arithmetic intensity and both machine ceilings, per stage and per aten op.

Bytes and FLOPs come from the cost counter's records (one meta-device pass: bytes = distinct inputs read +
outputs written, views free; FLOPs = 2 x MACs from PyTorch's flop formulas), times from the stage timing and
the profiled forward. For work of F FLOPs and B bytes the roofline's lower bound on time is
`max(F / peak_gflops, B / peak_gbps)`; "% of roofline" is that bound over the measured time. The verdict:
- `compute-bound`: intensity at or right of the ridge (F / B >= peak_gflops / peak_gbps), within reach of it;
- `memory-bound`: left of the ridge, within reach of the bandwidth ceiling;
- `overhead-bound`: achieved below `OVERHEAD_BELOW` of the roofline at its intensity: the time goes to
  dispatch, launches, Python or poorly shaped kernels, not to arithmetic or DRAM traffic (common at batch 1).
Elementwise ops (add, softmax, GELU, LayerNorm) count 0 FLOPs here: they sit at intensity 0, judged against the
bandwidth ceiling alone.
"""

from __future__ import annotations

import math

import pandas as pd

from swinprof.measure.peaks import Ceiling
from swinprof.profile.macs import CostTrace

OVERHEAD_BELOW = 0.10
BOUNDS = ("compute-bound", "memory-bound", "overhead-bound")
COLUMNS = [
    "gflop", "bytes", "intensity", "ms", "achieved_gflops", "achieved_gbps", "roofline_gflops", "roofline_pct", "bound",
]  # fmt: skip
# Ops that only move data between layouts: what a fused window implementation removes or merges.
LAYOUT_OPS = (
    "aten.roll", "aten.clone", "aten.copy_", "aten.constant_pad_nd", "aten.cat", "aten.index_select",
    "aten._unsafe_view", "aten.contiguous", "aten.permute", "aten.slice",
)  # fmt: skip


def roofline_row(flops: float, nbytes: float, ms: float, compute: Ceiling, bandwidth: Ceiling) -> dict:
    """The roofline figures of one piece of work: F FLOPs and B bytes that took `ms` milliseconds."""
    seconds = ms / 1e3
    intensity = flops / nbytes if nbytes else (math.inf if flops else 0.0)
    t_compute = flops / (compute.value * 1e9)
    t_memory = nbytes / (bandwidth.value * 1e9)
    bound_s = max(t_compute, t_memory)
    pct = 100.0 * bound_s / seconds if seconds > 0 else math.nan
    side = "compute-bound" if t_compute >= t_memory and flops else "memory-bound"
    return {
        "gflop": flops / 1e9,
        "bytes": int(nbytes),
        "intensity": intensity,
        "ms": ms,
        "achieved_gflops": flops / seconds / 1e9 if seconds > 0 else math.nan,
        "achieved_gbps": nbytes / seconds / 1e9 if seconds > 0 else math.nan,
        "roofline_gflops": min(compute.value, intensity * bandwidth.value),
        "roofline_pct": pct,
        "bound": "overhead-bound" if not pct >= 100 * OVERHEAD_BELOW else side,
    }


PROFILED_TOTAL = "total (profiled forward)"


def stage_roofline(trace: CostTrace, stage_ms: dict[str, float], compute: Ceiling, bandwidth: Ceiling,
                   total_ms: float | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per stage (plus `total`): its FLOPs and bytes from the counter, its median time. `total_ms`: the
    whole model's time as the stage table states it (median of per-run sums); default the sum of the medians."""
    sums = trace.records.groupby("stage", sort=False)[["macs", "bytes"]].sum()
    rows = []
    for s in trace.stages:
        macs, nbytes = (int(sums.at[s.name, "macs"]), int(sums.at[s.name, "bytes"])) if s.name in sums.index else (0, 0)
        rows.append({"stage": s.name, **roofline_row(2 * macs, nbytes, stage_ms[s.name], compute, bandwidth)})
    total_ms = sum(stage_ms[s.name] for s in trace.stages) if total_ms is None else total_ms
    total = roofline_row(2 * trace.total_macs, int(trace.records["bytes"].sum()), total_ms, compute, bandwidth)
    rows.append({"stage": "total", **total})
    return pd.DataFrame(rows, columns=["stage", *COLUMNS])


def op_roofline(
    trace: CostTrace, op_ms: pd.DataFrame, compute: Ceiling, bandwidth: Ceiling, top: int = 15
) -> pd.DataFrame:
    """The `top` ops by time (attributed: internal kernels included), then an `other ops` row and `total`.

    `op_ms` columns: op, time (ms) (from `ProfiledRun.attributed`). Bytes, FLOPs and calls of every op sum
    exactly to the model totals over the rows.
    """
    counted = trace.records.groupby("op", sort=False).agg(calls=("macs", "size"), macs=("macs", "sum"),
                                                          moved=("bytes", "sum"))  # fmt: skip
    g = counted.join(op_ms.set_index("op")["time (ms)"], how="outer").fillna(0.0).reset_index()
    g = g.sort_values(["time (ms)", "moved"], ascending=False).reset_index(drop=True)
    head, rest = g.iloc[:top], g.iloc[top:]
    rows = [_op_row(r["op"], r, compute, bandwidth) for _, r in head.iterrows()]
    if len(rest):
        rows.append(_op_row(f"other ops ({len(rest)})", rest[["calls", "macs", "moved", "time (ms)"]].sum(),
                            compute, bandwidth))  # fmt: skip
    # Not the stage tables' total: one profiled forward, under the profiler's overhead (named apart on purpose).
    rows.append(_op_row(PROFILED_TOTAL, g[["calls", "macs", "moved", "time (ms)"]].sum(), compute, bandwidth))
    return pd.DataFrame(rows, columns=["op", "calls", *COLUMNS])


def _op_row(op: str, r: pd.Series, compute: Ceiling, bandwidth: Ceiling) -> dict:
    figures = roofline_row(2 * float(r["macs"]), float(r["moved"]), float(r["time (ms)"]), compute, bandwidth)
    return {"op": op, "calls": int(r["calls"]), **figures}


def ceilings_table(compute: Ceiling, bandwidth: Ceiling) -> pd.DataFrame:
    """The two ceilings with how each was obtained and the theoretical value beside it."""
    return pd.DataFrame(
        [
            {"ceiling": "compute", "peak_gflops": compute.value, "peak_gbps": None, "how": compute.how,
             "theoretical": compute.theoretical, "theoretical basis": compute.theoretical_basis},
            {"ceiling": "bandwidth", "peak_gflops": None, "peak_gbps": bandwidth.value, "how": bandwidth.how,
             "theoretical": bandwidth.theoretical, "theoretical basis": bandwidth.theoretical_basis},
        ]
    )  # fmt: skip


def layout_share(op_ms: pd.DataFrame) -> tuple[float, float]:
    """(ms, share of the profiled forward) spent in layout-only ops (roll, partition/merge copies, pad, cat)."""
    total = float(op_ms["time (ms)"].sum())
    layout = float(op_ms[op_ms["op"].isin(LAYOUT_OPS)]["time (ms)"].sum())
    return layout, (layout / total if total else math.nan)


def roofline_notes(compute: Ceiling, bandwidth: Ceiling) -> list[str]:
    ridge = compute.value / bandwidth.value
    return [
        f"ceilings: compute {compute.describe()}; bandwidth {bandwidth.describe()}; ridge at {ridge:.1f} FLOP/byte",
        "gflop = 2 x MACs (matmul/conv FLOPs from PyTorch's flop formulas; elementwise ops count 0 and are judged "
        "against bandwidth alone); bytes = distinct bytes of every input read plus every output written (views "
        "move nothing); intensity = FLOPs / bytes",
        "roofline_pct = max(FLOPs / peak_gflops, bytes / peak_gbps) / measured time; bound: compute- or "
        f"memory-bound by the side of the ridge, overhead-bound below {OVERHEAD_BELOW:.0%} of the roofline",
    ]
