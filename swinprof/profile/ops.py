"""The aten op breakdown: what the dispatcher ran, how often, its MACs and its share of the time.

Counts and MACs come from the counting pass (every call the dispatcher saw, so attention matmuls appear);
self times come from one profiled forward. Composite ops (`aten.linear`, `aten.matmul`, ...) show up only in
the profiler: they are wrappers that call the kernels counted below them, so their dispatch count is 0.
"""

from __future__ import annotations

import pandas as pd

from swinprof.profile.macs import CostTrace
from swinprof.profile.trace import ProfiledRun


def _share(values: pd.Series) -> pd.Series:
    total = values.sum()
    return 100.0 * values / total if total else values * float("nan")


def op_table(trace: CostTrace, profiled: ProfiledRun | None = None) -> pd.DataFrame:
    """One row per aten op: count (dispatcher), MACs, MACs %, profiler calls, self (ms), time %.

    Sorted by self time when profiled, else by MACs then count. MACs sum to `trace.total_macs`.
    """
    g = trace.records.groupby("op", sort=False).agg(count=("macs", "size"), MACs=("macs", "sum")).reset_index()
    g["MACs %"] = _share(g["MACs"])
    if profiled is not None:
        times = profiled.op_times.rename(columns={"calls": "profiler calls"})
        g = g.merge(times, on="op", how="outer")
        g["count"] = g["count"].fillna(0).astype(int)
        g["MACs"] = g["MACs"].fillna(0).astype("int64")
        g["MACs %"] = g["MACs %"].fillna(0.0)
        g["profiler calls"] = g["profiler calls"].fillna(0).astype(int)
        g["self (ms)"] = g["self (ms)"].fillna(0.0)
        g["time %"] = _share(g["self (ms)"])
        g = g.sort_values(["self (ms)", "MACs"], ascending=False)
    else:
        g = g.sort_values(["MACs", "count"], ascending=False)
    g["MACs"] = g["MACs"].astype("int64")
    return g.reset_index(drop=True)


def op_shape_table(trace: CostTrace) -> pd.DataFrame:
    """`--by-shape`: one row per (op, input shapes), with count and MACs, heaviest first."""
    g = (
        trace.records.groupby(["op", "shapes"], sort=False)
        .agg(count=("macs", "size"), MACs=("macs", "sum"))
        .reset_index()
        .sort_values(["MACs", "count"], ascending=False)
        .reset_index(drop=True)
    )
    g["MACs %"] = _share(g["MACs"])
    return g
