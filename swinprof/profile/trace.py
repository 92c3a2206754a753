"""One forward under `torch.profiler`: per-op self times, and optionally a Chrome/Perfetto trace.

Each stage runs inside a `record_function("stage:<name>")` range, so the trace shows one span per stage
with its aten ops nested below.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from swinprof.files import atomic_write_bytes
from swinprof.profile.grouping import StageSpec, as_stages

STAGE_PREFIX = "stage:"


@dataclass
class ProfiledRun:
    """`op_times` columns: op (`aten.mm`), calls, self (ms); `trace_path` when a trace was written.

    `attributed` columns: op, time (ms): every profiled event's self time charged to its nearest enclosing
    op (itself included) that the cost counter saw, so an op's time includes the kernels it ran internally
    (`clone` its `copy_`, `roll` its `cat`) and matches the bytes and FLOPs counted for it. It sums to the total
    self time of the forward.
    """

    op_times: pd.DataFrame
    trace_path: Path | None = None
    time_source: str = "self CPU time"
    attributed: pd.DataFrame | None = None


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence fd 2 while the profiler starts and stops: kineto logs `USDT: profiler_start` lines there."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured or replaced stderr: nothing native to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def _export_trace(prof, path: Path) -> Path:
    """Export to a temp file, then write atomically: a trace is either complete or absent."""
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(tmp)
        return atomic_write_bytes(path, Path(tmp).read_bytes())
    finally:
        os.unlink(tmp)


def _op_name(key: str) -> str:
    return "aten." + key.removeprefix("aten::")


def attribute_times(events, counted_ops: set[str], cuda: bool) -> pd.DataFrame:
    """Charge each event's self time to its nearest enclosing aten op in `counted_ops` (or to itself)."""
    times: dict[str, float] = {}
    for evt in events:
        self_us = evt.self_device_time_total if cuda else evt.self_cpu_time_total
        if not self_us:
            continue
        owner, node = None, evt
        while node is not None:
            if node.name.startswith("aten::") and _op_name(node.name) in counted_ops:
                owner = _op_name(node.name)
                break
            node = node.cpu_parent
        if owner is None:
            if not evt.name.startswith("aten::"):
                continue  # stage ranges and other annotations: their self time is Python between ops
            owner = _op_name(evt.name)
        times[owner] = times.get(owner, 0.0) + self_us / 1e3
    return pd.DataFrame(sorted(times.items(), key=lambda kv: -kv[1]), columns=["op", "time (ms)"])


def profile_forward(
    model: nn.Module,
    example_input: torch.Tensor,
    stages: Sequence[StageSpec] | None = None,
    trace_path: str | os.PathLike | None = None,
    warmup: bool = True,
    counted_ops: set[str] | None = None,
) -> ProfiledRun:
    """Run the stages once under the profiler (after one untimed warm-up unless `warmup=False`).

    `op_times` keeps aten ops only; stage ranges are in the trace. With `counted_ops` (the op names the cost
    counter recorded), `attributed` holds per-op times that include what each op ran internally.
    """
    stage_list = as_stages(model, stages)
    cuda = example_input.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode():
        if warmup:  # first calls allocate caches (shift masks, kernels); skip when the model was just timed
            x = example_input
            for stage in stage_list:
                x = stage.fn(x)
        with quiet_native_stderr(), profile(activities=activities) as prof:
            x = example_input
            for stage in stage_list:
                with record_function(STAGE_PREFIX + stage.name):
                    x = stage.fn(x)
            if cuda:
                torch.cuda.synchronize(example_input.device)
    rows = []
    for evt in prof.key_averages():
        if not evt.key.startswith("aten::"):
            continue
        self_us = evt.self_device_time_total if cuda else evt.self_cpu_time_total
        rows.append({"op": _op_name(evt.key), "calls": evt.count, "self (ms)": self_us / 1e3})
    df = pd.DataFrame(rows, columns=["op", "calls", "self (ms)"])
    attributed = attribute_times(prof.events(), counted_ops, cuda) if counted_ops is not None else None
    path = _export_trace(prof, Path(trace_path)) if trace_path is not None else None
    return ProfiledRun(df, path, "self CUDA time" if cuda else "self CPU time", attributed)
