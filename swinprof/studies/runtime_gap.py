"""Where OpenVINO's fp32 time goes against swinprof's PyTorch path: the same model and input on both, op times
grouped into the same few categories, profiled alternately in one process.

The run report says *by how much* OpenVINO is faster; this says *where*. Each side is profiled by its own meter
(torch.profiler self CPU time; OpenVINO's `PERF_COUNT` per-node real time), so each row compares two meters of
the same work, and each side's "outside ops" row is its wall time minus the ops it profiled (Python, dispatch,
runtime glue). Unprofiled latencies, timed interleaved with the same settle as `swinprof run`, come first: the
profilers add overhead, the ratio of those two medians is the one to quote.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from swinprof.measure.environment import busy_warning, environment
from swinprof.measure.inputs import seeded_images
from swinprof.measure.timing import SETTLE_MS, Timing, measure_interleaved, time_once
from swinprof.optimize.compile import CompiledModel
from swinprof.optimize.openvino import compile_ov, convert
from swinprof.profile.trace import quiet_native_stderr
from swinprof.report.document import Report

GEMM, ATTENTION, CONV, OTHER, OUTSIDE = (
    "Linear GEMMs",
    "attention (QK^T, softmax, AV)",
    "patch-embedding conv",
    "everything else (norms, GELU, adds, copies, layout)",
    "outside ops (wall - profiled ops)",
)
CATEGORIES = (GEMM, ATTENTION, CONV, OTHER, OUTSIDE)
# How far apart the two sides' profiler overheads (profiled total / unprofiled median) may be before the category
# differences stop comparing work alone: 10% (swin_s batch 1, three runs: 2%, 1%, 9% apart; batch 8, one run:
# OpenVINO's per-node counters cost 33%, torch.profiler 10%).
OVERHEAD_SPREAD = 0.10

# torch.profiler event names (eager aten ops, inductor's extern kernels) -> category; the rest is OTHER,
# including inductor's own fused C++ kernels (the self time of its "## Call CompiledFxGraph" range).
_TORCH = {
    GEMM: ("aten::addmm", "aten::mm", "mkl::_mkl_linear", "mkldnn::_linear_pointwise"),
    ATTENTION: ("aten::bmm", "aten::baddbmm", "aten::_softmax", "aten::_safe_softmax",
                "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math"),
    CONV: ("aten::mkldnn_convolution", "aten::_convolution", "mkldnn::_convolution_pointwise"),
}  # fmt: skip
# OpenVINO node types -> category. FullyConnected carries its fused post-ops (bias, GELU, adds). Attention may
# run as one fused "Subgraph" node, told apart from fused elementwise chains by the ops it was made of.
_OPENVINO = {GEMM: ("FullyConnected",), ATTENTION: ("MatMul", "Softmax", "ScaledDotProductAttention"),
             CONV: ("Convolution",)}  # fmt: skip
_OPENVINO_ATTENTION_OPS = ("scaled_dot_product_attention", "Softmax", "softmax")


def _category(name: str, table: dict[str, tuple[str, ...]]) -> str:
    return next((cat for cat, names in table.items() if name in names), OTHER)


def _openvino_category(node_type: str, original_ops: str) -> str:
    if node_type == "Subgraph" and any(op in original_ops for op in _OPENVINO_ATTENTION_OPS):
        return ATTENTION
    return _category(node_type, _OPENVINO)


def _by_category(times: Iterable[tuple[str, float]], wall_ms: float) -> dict[str, float]:
    """`(category, ms)` pairs summed per category, plus OUTSIDE = the call's wall time minus all of them."""
    out = dict.fromkeys(CATEGORIES, 0.0)
    for category, ms in times:
        out[category] += ms
    out[OUTSIDE] = max(wall_ms - sum(out.values()), 0.0)
    return out


def torch_op_times(fn: Callable[[], object]) -> dict[str, float]:
    """One call of `fn` under torch.profiler: self CPU ms per category, OUTSIDE = wall - profiled self time."""
    with quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        wall = time_once(fn)
    return _by_category(((_category(e.name, _TORCH), e.self_cpu_time_total / 1e3) for e in prof.events()), wall)


def openvino_op_times(ov_model, x: torch.Tensor) -> dict[str, float]:
    """One call of a PERF_COUNT-compiled OvModel: per-node real ms per category, OUTSIDE = wall - node time."""
    wall = time_once(lambda: ov_model(x))
    nodes = ov_model.node_times(tuple(x.shape))
    return _by_category(((_openvino_category(kind, ops), ms) for kind, ops, ms in nodes), wall)


@dataclass
class RuntimeGap:
    variant: str
    res: int
    batch: int
    ours: str  # the PyTorch path's label
    timings: dict[str, Timing]  # unprofiled, interleaved: ours, "openvino-fp32"
    profiled: dict[str, dict[str, float]]  # side -> category -> mean ms over the profiled calls
    rounds: int
    env: dict
    load_before: float | None

    def frame(self) -> pd.DataFrame:
        """Per category: mean profiled ms on each side, their difference and its share of the total gap."""
        ours, ov = self.profiled[self.ours], self.profiled["openvino-fp32"]
        gap = sum(ours.values()) - sum(ov.values())
        rows = [(c, ours[c], ov[c]) for c in CATEGORIES]
        rows.append(("total (profiled calls)", sum(ours.values()), sum(ov.values())))
        frame = pd.DataFrame(rows, columns=["category", "swinprof ms", "openvino ms"])
        frame["difference ms"] = frame["swinprof ms"] - frame["openvino ms"]
        frame["share of the gap"] = frame["difference ms"] / gap if gap else float("nan")
        return frame

    def profiler_overhead(self, side: str) -> float:
        """Profiled total / unprofiled median of one side (1.1: its profiler made its calls 10% slower)."""
        return sum(self.profiled[side].values()) / self.timings[side].median

    def latency_frame(self) -> pd.DataFrame:
        base = self.timings["openvino-fp32"].median
        rows = [(name, t.median, t.p90, t.median / base, len(t.samples_ms), self.profiler_overhead(name))
                for name, t in self.timings.items()]  # fmt: skip
        columns = ["path", "median ms", "p90 ms", "vs openvino-fp32", "samples", "profiled / unprofiled"]
        return pd.DataFrame(rows, columns=columns)

    def overhead_warning(self) -> list[str]:
        """A warning when the two profilers slowed their sides unequally (by more than OVERHEAD_SPREAD): the
        category differences then mix the work with the meters' cost."""
        ours, ov = self.profiler_overhead(self.ours), self.profiler_overhead("openvino-fp32")
        if abs(ours / ov - 1) <= OVERHEAD_SPREAD:
            return []
        return [
            f"the profilers slowed the two sides unequally (swinprof {ours:.2f}x, OpenVINO {ov:.2f}x its "
            "unprofiled median): compare the unprofiled latencies; read each side's categories on their own"
        ]

    def report(self) -> Report:
        title = f"{self.variant} at {self.res}x{self.res}, batch {self.batch}: {self.ours} vs openvino-fp32, CPU fp32"
        settings = {"variant": self.variant, "res": self.res, "batch": self.batch, "swinprof path": self.ours,
                    "profiled calls": self.rounds}  # fmt: skip
        report = Report(title, environment=self.env, settings=settings)
        timing = (
            f"median / p90 ms: {self.rounds} timed calls each after warm-up, interleaved, {SETTLE_MS:g} ms idle "
            "before each (the other runtime's threads stop spin-waiting); vs openvino-fp32 = median / its median"
        )
        report.add("latency", "Latency, unprofiled", self.latency_frame(), notes=timing)
        report.add("categories", "Where the time goes, profiled", self.frame(), notes=[
            f"swinprof ms: torch.profiler self CPU time, mean of {self.rounds} profiled calls; inductor's fused "
            "C++ kernels count under 'everything else'",
            f"openvino ms: OpenVINO PERF_COUNT real time per node, mean of {self.rounds} calls; FullyConnected "
            "nodes include the post-ops OpenVINO fused into them (bias, GELU, residual adds), so their time "
            "counts as GEMM there and as 'everything else' here",
            "outside ops: the profiled call's wall time minus the time its ops account for (Python, dispatch, "
            "runtime glue); profilers add overhead, so the profiled totals exceed the unprofiled medians",
            "share of the gap: difference / total difference (negative: swinprof is faster there)",
        ])  # fmt: skip
        report.warnings += self.overhead_warning() + busy_warning(self.env, self.load_before)
        return report


def runtime_gap(
    model: nn.Module, variant: str, batch: int = 1, compiled: bool = True, rounds: int = 5, warmup: int = 2,
    seed: int = 0,
) -> RuntimeGap:  # fmt: skip
    """Profile swinprof's fp32 `model` (a SwinTransformer; `compiled`: torch.compile inductor with frozen weights,
    as the compile-inductor recipes) and openvino-fp32 converted from it, on one seeded input; see the module
    docstring."""
    load_before = environment("cpu").get("load_1min")
    model = model.eval()
    res = model.config.img_size
    x = seeded_images(batch, res, seed, model.config.in_chans)
    ours_fn = CompiledModel(model, freezing=True) if compiled else model
    ours = f"{'compile-inductor' if compiled else 'eager'} ({model.attn_impl} attn)"
    ov_model = convert(model).model
    timed, profiled = compile_ov(ov_model), compile_ov(ov_model, profile=True)
    calls = {ours: lambda: ours_fn(x), "openvino-fp32": lambda: timed(x)}
    with torch.inference_mode():
        for call in calls.values():
            call()  # the first call compiles (inductor; OpenVINO's static shape): never a warm-up or a sample
    timings = measure_interleaved(calls, warmup, rounds, settle_ms=SETTLE_MS)
    samples: dict[str, list[dict[str, float]]] = {ours: [], "openvino-fp32": []}
    with torch.inference_mode():
        profiled(x)  # its first call at this shape compiles
        for _ in range(rounds):
            time.sleep(SETTLE_MS / 1e3)
            samples[ours].append(torch_op_times(lambda: ours_fn(x)))
            time.sleep(SETTLE_MS / 1e3)
            samples["openvino-fp32"].append(openvino_op_times(profiled, x))
    means = {side: {c: statistics.fmean(s[c] for s in runs) for c in CATEGORIES} for side, runs in samples.items()}
    return RuntimeGap(variant, res, batch, ours, timings, means, rounds, environment("cpu"), load_before)
