"""Charts as inline SVG text (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


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
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]  # drop the XML prolog so it can sit inside html
