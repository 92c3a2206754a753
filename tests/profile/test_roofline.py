"""The roofline: bytes moved per aten call against hand-computed values, exact sums, and the verdicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swinprof.measure.peaks import Ceiling
from swinprof.models.windows import window_partition
from swinprof.profile.grouping import swin_stages
from swinprof.profile.macs import count_costs
from swinprof.profile.roofline import BOUNDS, op_roofline, roofline_row, stage_roofline
from swinprof.profile.trace import profile_forward

from .conftest import tiny_input, tiny_model

F32 = 4


class Fn(nn.Module):
    def __init__(self, fn, *params: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        self.params = nn.ParameterList(params)

    def forward(self, x):
        return self.fn(x, *self.params)


def moved(fn, x, *params) -> dict[str, int]:
    """Bytes per op of one call, counted on the meta device (and, to be sure, the same on CPU)."""
    out = {}
    for device in ("meta", "cpu"):
        module = Fn(fn, *[nn.Parameter(p.clone()) for p in params]).to(device)
        records = count_costs(module, x.to(device)).records
        out[device] = records.groupby("op")["bytes"].sum().to_dict()
    assert out["meta"] == out["cpu"]
    return out["cpu"]


def test_linear_reads_input_weight_bias_and_writes_output():
    x, w, b = torch.randn(4, 8), torch.randn(16, 8), torch.randn(16)
    ops = moved(lambda x, w, b: nn.functional.linear(x, w, b), x, w, b)
    assert ops == {"aten.t": 0, "aten.addmm": F32 * (4 * 8 + 16 * 8 + 16 + 4 * 16)}


def test_bmm_softmax_layer_norm_and_roll():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert moved(lambda x, b: x @ b, a, b)["aten.bmm"] == F32 * (24 + 40 + 30)
    assert moved(lambda x: x.softmax(-1), torch.randn(3, 5)) == {"aten._softmax": F32 * (15 + 15)}
    w, bias = torch.ones(6), torch.zeros(6)
    ln = moved(lambda x, w, b: nn.functional.layer_norm(x, (6,), w, b), torch.randn(4, 6), w, bias)
    # reads x, weight, bias; writes y plus the per-row mean and rstd it returns
    assert ln == {"aten.native_layer_norm": F32 * ((24 + 6 + 6) + (24 + 4 + 4))}
    assert moved(lambda x: torch.roll(x, (1, 1), (1, 2)), torch.randn(2, 4, 4, 3)) == {"aten.roll": F32 * 2 * 96}


def test_window_partition_moves_the_map_once_and_views_are_free():
    ops = moved(lambda x: window_partition(x, (4, 4)), torch.randn(1, 8, 8, 4))
    assert ops["aten.clone"] == F32 * 2 * 256  # the one real copy: read the map, write the windows
    assert ops["aten.view"] == ops["aten.permute"] == ops["aten._unsafe_view"] == 0


def test_broadcast_inputs_are_read_once():
    bias = torch.randn(1, 3, 4, 4)
    ops = moved(lambda x, b: x + b, torch.randn(5, 3, 4, 4), bias)
    assert ops["aten.add"] == F32 * (240 + 48 + 240)
    expanded = moved(lambda x: x.expand(5, 3, 4, 4) * 2, bias)
    assert expanded["aten.expand"] == 0 and expanded["aten.mul"] == F32 * (48 + 240)


def _ceilings(gflops: float = 100.0, gbps: float = 10.0) -> tuple[Ceiling, Ceiling]:
    c = Ceiling("compute", gflops, "GFLOP/s", "fp32", "cpu", "k", "test")
    b = Ceiling("bandwidth", gbps, "GB/s", None, "cpu", "k", "test")
    return c, b


def test_verdicts_follow_the_ridge_and_the_overhead_floor():
    compute, bandwidth = _ceilings()  # ridge at 10 FLOP/byte
    gemm = roofline_row(2e9, 1e7, 40.0, compute, bandwidth)  # 200 FLOP/B; bound 20 ms, took 40 ms
    assert gemm["bound"] == "compute-bound" and gemm["roofline_pct"] == pytest.approx(50)
    copy = roofline_row(0, 1e8, 20.0, compute, bandwidth)  # 0 FLOPs, 100 MB at 10 GB/s = 10 ms
    assert copy["bound"] == "memory-bound" and copy["roofline_pct"] == pytest.approx(50)
    tiny = roofline_row(2e6, 1e5, 5.0, compute, bandwidth)  # bound 0.02 ms, took 5 ms: launch/dispatch time
    assert tiny["bound"] == "overhead-bound" and tiny["roofline_pct"] < 10
    assert {gemm["bound"], copy["bound"], tiny["bound"]} == set(BOUNDS)


def test_per_op_bytes_and_flops_sum_to_stage_and_model_totals_exactly():
    model, x = tiny_model(), tiny_input(2)
    trace = count_costs(model, x, swin_stages(model))
    compute, bandwidth = _ceilings()
    profiled = profile_forward(model, x, swin_stages(model), counted_ops=set(trace.records["op"]))
    ops = op_roofline(trace, profiled.attributed, compute, bandwidth, top=5)
    stages = stage_roofline(trace, {s.name: 1.0 for s in trace.stages}, compute, bandwidth)
    total = int(trace.records["bytes"].sum())
    assert ops["bytes"].iloc[:-1].sum() == ops["bytes"].iloc[-1] == total
    assert stages["bytes"].iloc[:-1].sum() == stages["bytes"].iloc[-1] == total
    assert ops["gflop"].iloc[-1] == pytest.approx(2 * trace.total_macs / 1e9)
    assert ops["calls"].iloc[-1] == len(trace.records)
    # attributed time conserves the profiled self time: every microsecond is charged to exactly one op
    self_ms = profiled.op_times["self (ms)"].sum()
    assert profiled.attributed["time (ms)"].sum() == pytest.approx(self_ms, rel=1e-6)
