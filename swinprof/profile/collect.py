"""Run every profiler on one model and collect the tables into a `Report`.

Generic: any `nn.Module`, an example input and a stage grouping. Counting (MACs, shapes, live bytes, the
torchinfo tree) runs on `count_model` / `count_input` when given, typically a meta-device twin of the model
that computes nothing; timing and the op profile run on the real model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from swinprof.measure.peaks import Ceiling, bandwidth_ceiling, compute_ceiling
from swinprof.profile.crosscheck import fvcore_cross_check
from swinprof.profile.grouping import StageSpec
from swinprof.profile.layers import LayerSummary, layer_summary
from swinprof.profile.macs import CostTrace, count_costs
from swinprof.profile.nnops import nn_op_table
from swinprof.profile.ops import op_shape_table, op_table
from swinprof.profile.roofline import ceilings_table, layout_share, op_roofline, roofline_notes, stage_roofline
from swinprof.profile.stages import stage_table, time_stages
from swinprof.profile.trace import profile_forward
from swinprof.report.document import Chart, Report


class Progress:
    """Callbacks the runner reports through (no-ops here; the CLI draws a progress bar)."""

    def phase(self, description: str) -> None:
        pass

    def timing(self, total_calls: int) -> Callable[[], None]:
        """Called once before timing; returns the per-call `advance` callback."""
        return lambda: None


@dataclass
class ProfileOptions:
    warmup: int = 1
    iters: int = 10
    depth: int = 3
    by_shape: bool = False
    fvcore: bool = False
    trace_path: Path | None = None
    peak_cache: Path | None = None
    time_it: bool = True


@dataclass
class Counted:
    """What the counting side produced (the swin adapter uses it for the model-info row), plus the machine
    ceilings the run was judged against once it was timed (so a second implementation uses the same ones)."""

    trace: CostTrace
    layers: LayerSummary
    ceilings: tuple[Ceiling, Ceiling] | None = None


def count_side(count_model: nn.Module, count_input: torch.Tensor, count_stages, depth: int) -> Counted:
    trace = count_costs(count_model, count_input, count_stages)
    return Counted(trace, layer_summary(count_model, count_input, trace, depth))


def profile_model(
    report: Report,
    model: nn.Module,
    example_input: torch.Tensor,
    stages: Sequence[StageSpec] | None = None,
    options: ProfileOptions | None = None,
    counted: Counted | None = None,
    progress: Progress | None = None,
    label: str = "",
) -> Counted:
    """Append layer, stage, op (and by-shape), cross-check and NN-op sections to `report`.

    `counted` is the result of `count_side` on a (meta) twin; without it the real model is counted.
    """
    opts, progress = options or ProfileOptions(), progress or Progress()
    if counted is None:
        progress.phase("counting aten ops")
        counted = count_side(model, example_input, stages, opts.depth)
    trace, layers = counted.trace, counted.layers
    timings = peak = profiled = None
    if opts.time_it:
        progress.phase("probing matmul peak")
        peak = compute_ceiling(example_input.device, example_input.dtype, opts.peak_cache)
        n_stages = len(trace.stages)
        advance = progress.timing(opts.iters * n_stages)
        timings = time_stages(model, example_input, stages, opts.warmup, opts.iters, on_iter=advance)
        if _best_gflops(trace, timings) > peak.gflops:  # the cached probe read low (a busy machine): re-probe
            progress.phase("re-probing matmul peak")
            peak = compute_ceiling(example_input.device, example_input.dtype, opts.peak_cache, refresh=True)
    if opts.time_it or opts.trace_path is not None:
        progress.phase("profiling aten ops")
        counted_ops = set(trace.records["op"])
        profiled = profile_forward(model, example_input, stages, opts.trace_path, not opts.time_it, counted_ops)
    _add_layers(report, layers, opts.depth)
    st = stage_table(trace, timings, peak)
    report.add("stages", _stage_title(st, timings, example_input), st, _peak_note(peak, timings),
               essential=("stage", "MACs %", "tensor peak (MiB)", "median (ms)", "GFLOP/s", "time %"))  # fmt: skip
    if timings is not None:
        report.charts.append(Chart("stages", "Per-stage share of MACs vs share of latency", lambda: _chart(st)))
    ops_title = (
        f"Aten ops (dispatcher counts, MACs of batch {example_input.shape[0]}; self time of one profiled forward)"
    )
    ops_note = _crosscheck_note(model, example_input, trace, opts.fvcore, progress)
    report.add("ops", ops_title, op_table(trace, profiled), ops_note,
               essential=("op", "count", "MACs %", "self (ms)", "time %"))  # fmt: skip
    if opts.by_shape:
        report.add("ops_by_shape", "Aten ops by input shapes", op_shape_table(trace))
    report.add("nn_ops", "NN operations: module types and their distinct configurations",
               nn_op_table(model, trace.modules_called))  # fmt: skip
    if timings is not None and profiled is not None:
        progress.phase("probing memory bandwidth")
        bandwidth = bandwidth_ceiling(example_input.device, opts.peak_cache)
        add_roofline(report, trace, timings, profiled, peak, bandwidth, label)
        counted.ceilings = (peak, bandwidth)
    if profiled is not None and profiled.trace_path is not None:
        report.settings["trace"] = str(profiled.trace_path)
    return counted


def add_roofline(report: Report, trace: CostTrace, timings, profiled, compute, bandwidth, label: str = "") -> None:
    """Roofline tables (stages, top ops), the ceilings they are judged against, and the roofline chart.

    `label` (an attention implementation) suffixes the table keys when several models share one report.
    """
    suffix, named = (f"_{label}", f" [{label}]") if label else ("", "")
    stage_ms = {name: t.median for name, t in timings.timings.items()}
    stages = stage_roofline(trace, stage_ms, compute, bandwidth, timings.total.median)  # the stage table's total
    ops = op_roofline(trace, profiled.attributed, compute, bandwidth)
    layout_ms, layout_frac = layout_share(profiled.attributed)
    notes = [
        *roofline_notes(compute, bandwidth),
        f"layout ops (roll, window partition/merge copies, pad, cat, gathers) took {layout_ms:.1f} ms = "
        f"{layout_frac:.0%} of the profiled forward: the work a fused window implementation removes or merges",
    ]
    report.add(f"roofline_stages{suffix}", f"Roofline per stage{named} (median stage time)", stages,
               [*notes, "ms: median of the interleaved stage timings; total: the stage table's total (median of "
                "per-run sums), one meter for the whole model"],
               essential=("stage", "intensity", "ms", "roofline_pct", "bound"))  # fmt: skip
    report.add(f"roofline_ops{suffix}", f"Roofline per aten op{named} (one profiled forward)", ops,
               [f"ms: {profiled.time_source} of one profiled forward, each op charged with the kernels it ran "
                "internally (clone with its copy_, roll with its cat)"],
               essential=("op", "intensity", "ms", "roofline_pct", "bound"))  # fmt: skip
    if not any(t.key == "ceilings" for t in report.tables):
        report.add("ceilings", "Machine ceilings", ceilings_table(compute, bandwidth))
        report.settings.update({"peak_gflops": compute.value, "peak_gflops_how": compute.how,
                                "peak_gbps": bandwidth.value, "peak_gbps_how": bandwidth.how})  # fmt: skip
    if not any(c.key == "roofline" for c in report.charts):  # one chart holds every roofline of the report
        report.charts.append(Chart("roofline", "Roofline", lambda: roofline_chart(report, "svg")))


def _best_gflops(trace: CostTrace, timings) -> float:
    """Highest achieved GFLOP/s of any stage (2 x MACs / median)."""
    rates = [2 * s.macs / (timings.timings[s.name].median / 1e3) / 1e9 for s in trace.stages]
    return max(rates, default=0.0)


def profile_roofline(
    report: Report,
    model: nn.Module,
    example_input: torch.Tensor,
    stages: Sequence[StageSpec],
    trace: CostTrace,
    options: ProfileOptions,
    ceilings: tuple[Ceiling, Ceiling],
    label: str,
) -> None:
    """Only the roofline of `model` (counted as `trace`), added to `report` under `label` and judged against the
    same `ceilings` as the first: for comparing a second implementation on the same chart."""
    timings = time_stages(model, example_input, stages, options.warmup, options.iters)
    profiled = profile_forward(model, example_input, stages, None, False, set(trace.records["op"]))
    add_roofline(report, trace, timings, profiled, *ceilings, label)


def roofline_chart(report: Report, fmt: str = "svg") -> str | bytes:
    """The report's roofline chart (every implementation profiled into it) as SVG text or PNG bytes."""
    from swinprof.report.chart import roofline_png, roofline_svg  # matplotlib: imported only when drawn

    gflops, gbps = report.settings["peak_gflops"], report.settings["peak_gbps"]
    draw = roofline_svg if fmt == "svg" else roofline_png
    return draw(_roofline_frames(report), gflops, gbps)


def _roofline_frames(report: Report) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Label -> (stage rows, op rows) of every roofline in the report (one per attention implementation)."""
    out = {}
    for t in report.tables:
        if t.key.startswith("roofline_stages"):
            label = t.key.removeprefix("roofline_stages").removeprefix("_") or "model"
            out[label] = (t.frame, report.table("roofline_ops" + t.key.removeprefix("roofline_stages")).frame)
    return out


def _chart(stages: pd.DataFrame) -> str:
    from swinprof.report.chart import latency_vs_macs_svg  # matplotlib: imported only for html output

    return latency_vs_macs_svg(stages)


def _add_layers(report: Report, layers, depth: int) -> None:
    note = (
        f"mult-adds: aten count {layers.total_macs / 1e9:.4f} G (MACs (self) sums to it); torchinfo's own "
        f"{layers.torchinfo_macs / 1e9:.4f} G misses Linear's token dimension and functional matmuls"
    )
    report.add("layers", f"Layer summary (depth {depth}; MACs = multiply-adds, batch as given)", layers.frame, note,
               essential=("Layer (type:depth-idx)", "Output Shape", "Param #", "MACs (total)"))  # fmt: skip
    report.add("layers_totals", "Layer summary totals", layers.footer())


def _stage_title(st: pd.DataFrame, timings, x: torch.Tensor) -> str:
    timing = f"{timings.iters} timed runs after 1 + {timings.warmup} warm-up" if timings else "not timed"
    return f"Per stage (batch {x.shape[0]}; {timing}; memory: {st.attrs['memory_method']})"


def _peak_note(peak, timings) -> str | None:
    if peak is None:
        return None
    return (
        f"% of peak: achieved GFLOP/s (2 x MACs / median) over this machine's GEMM ceiling: {peak.describe()}; "
        "total latency = median of per-run stage sums"
    )


OPS_NOTE = (
    "count: top-level calls the dispatcher saw (what the model asked for); profiler calls also include ops run "
    "inside other kernels (clone -> copy_, roll -> cat), whose time is their own self time. "
)


def _crosscheck_note(model, x, trace, enabled: bool, progress: Progress) -> str:
    return OPS_NOTE + _fvcore_line(model, x, trace, enabled, progress)


def _fvcore_line(model, x, trace, enabled: bool, progress: Progress) -> str:
    if not enabled:
        return "fvcore cross-check not run (it JIT-traces the model, ~10 s for swin_s): add --fvcore"
    if x.device.type == "meta":
        return "fvcore cross-check needs real tensors; not run on the meta device"
    progress.phase("fvcore cross-check")
    start = time.perf_counter()
    check = fvcore_cross_check(model, x, trace)
    return check.explanation + f" [{time.perf_counter() - start:.1f} s]"
