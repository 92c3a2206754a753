"""Charts as inline SVG text or PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

_MARKERS = ("o", "s", "^", "D")
_TOP_MEMORY_OPS = 8


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]  # drop the XML prolog so it can sit inside html


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def latency_vs_macs_svg(stages: pd.DataFrame, title: str = "Per-stage latency vs MACs") -> str:
    """Grouped bars of each stage's share of MACs and of latency (the `total` row is left out).

    A stage whose time share exceeds its MACs share runs below the machine's average efficiency.
    """
    df = stages[stages["stage"] != "total"]
    x = range(len(df))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    try:
        width = 0.4
        ax.bar([i - width / 2 for i in x], df["MACs %"], width, label="share of MACs (%)", color="#4c72b0")
        time_share = df["time %"].fillna(0)
        ax.bar([i + width / 2 for i in x], time_share, width, label="share of latency (%)", color="#dd8452")
        ax.set_xticks(list(x), list(df["stage"]))
        ax.set_ylabel("% of model")
        ax.set_title(title)
        ax.legend(frameon=False)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def _roofline_panel(ax, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], gflops: float, gbps: float) -> None:
    """Log-log roofline: both ceilings, one point per stage and per op with counted FLOPs."""
    points = [
        (r.intensity, r.achieved_gflops)
        for stages, ops in frames.values()
        for df in (stages, ops)
        for r in df.itertuples()
        if r.gflop > 0 and math.isfinite(r.intensity) and r.achieved_gflops > 0
    ]
    lo = min([p[0] for p in points] + [gflops / gbps]) / 4
    hi = max([p[0] for p in points] + [gflops / gbps]) * 4
    xs = [lo * (hi / lo) ** (i / 99) for i in range(100)]
    ax.plot(xs, [min(gflops, x * gbps) for x in xs], color="black", lw=1.5, label="roofline")
    for (label, (stages, ops)), marker in zip(frames.items(), _MARKERS):
        for df, kind, color in ((stages, "stage", "#4c72b0"), (ops, "op", "#dd8452")):
            rows = [r for r in df.itertuples() if r.gflop > 0 and math.isfinite(r.intensity) and r.achieved_gflops > 0]
            rows = [r for r in rows if not str(getattr(r, "stage", getattr(r, "op", ""))).startswith("total")]
            ax.scatter([r.intensity for r in rows], [r.achieved_gflops for r in rows], marker=marker, color=color,
                       s=22, label=f"{label}: {kind}s")  # fmt: skip
            for r in rows:
                ax.annotate(str(getattr(r, "stage", getattr(r, "op", ""))).removeprefix("aten."),
                            (r.intensity, r.achieved_gflops), fontsize=6, alpha=0.8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"compute {gflops:.0f} GFLOP/s, bandwidth {gbps:.1f} GB/s", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")


def _bandwidth_panel(ax, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], gbps: float) -> None:
    """Achieved GB/s of the ops with no counted FLOPs (layout and elementwise), against the bandwidth ceiling."""
    bars = []
    for label, (_, ops) in frames.items():
        rows = ops[(ops["gflop"] == 0) & (ops["bytes"] > 0) & ~ops["op"].str.startswith("total")]
        rows = rows[~rows["op"].str.startswith("other ops")].nlargest(_TOP_MEMORY_OPS, "ms")
        prefix = f"{label}: " if len(frames) > 1 else ""
        bars += [(prefix + r.op.removeprefix("aten."), r.achieved_gbps) for r in rows.itertuples()]
    ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color="#dd8452")
    ax.axvline(gbps, color="black", lw=1.5, label="bandwidth ceiling")
    ax.set_xlabel("achieved GB/s (0-FLOP ops, by time)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7)


def roofline_figure(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], gflops: float, gbps: float):
    """Left: log-log roofline (both ceilings; stages and ops with counted FLOPs). Right: achieved GB/s of the
    0-FLOP ops against the bandwidth ceiling. `frames`: label -> (stage rows, op rows) from profile.roofline."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    _roofline_panel(left, frames, gflops, gbps)
    _bandwidth_panel(right, frames, gbps)
    fig.tight_layout()
    return fig


def roofline_svg(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], gflops: float, gbps: float) -> str:
    """The roofline chart as inline SVG (see `roofline_figure`)."""
    fig = roofline_figure(frames, gflops, gbps)
    try:
        return _svg(fig)
    finally:
        plt.close(fig)


def roofline_png(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], gflops: float, gbps: float) -> bytes:
    fig = roofline_figure(frames, gflops, gbps)
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def ranking_svg(labels: list[str], values: list[float], xlabel: str, title: str) -> str:
    """Horizontal bars, first label on top (a sensitivity ranking: most sensitive first)."""
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.18 * len(labels) + 1)), dpi=100)
    try:
        ax.barh(list(range(len(labels)))[::-1], values, color="#4c72b0")
        ax.set_yticks(list(range(len(labels)))[::-1], labels, fontsize=6)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def speedup_vs_batch_svg(lines: dict[str, pd.DataFrame], baseline: str, title: str) -> str:
    """Speedup over `baseline` against batch (log2 x-axis), one line per recipe with its interval as error bars
    and the break-even line at 1. `lines`: recipe -> frame with columns batch, speedup, low, high."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for (name, df), marker in zip(lines.items(), _MARKERS * len(lines)):
            df = df.sort_values("batch")
            errors = [df["speedup"] - df["low"], (df["high"] - df["speedup"]).clip(upper=df["speedup"] * 10)]
            ax.errorbar(df["batch"], df["speedup"], yerr=errors, marker=marker, capsize=3, label=name)
        ax.axhline(1.0, color="black", lw=1, ls="--", label=f"{baseline} (1.0)")
        ax.set_xscale("log", base=2)
        batches = sorted({int(b) for df in lines.values() for b in df["batch"]})
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch (images per forward)")
        ax.set_ylabel(f"speedup over {baseline} (x)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)
