"""The history plot: latency over commits, one panel per case, step changes marked."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

from swinprof.errors import SwinprofError
from swinprof.files import atomic_write_bytes
from swinprof.track.history import metric_prefix, step_changes, value_of

# Bounds that keep the figure a readable (and allocatable) size: a long CI history shows its latest runs.
MAX_PLOT_RUNS = 200
MAX_PLOT_CASES = 40


def _plot_case(ax, mine: list[dict], cid: str, metric: str, threshold: float) -> None:
    """The normalised median per run (primary axis) with step changes, raw ms (grey, right axis) beside it."""
    x = list(range(len(mine)))
    norm = [value_of(e, cid, f"{metric}_norm") for e in mine]
    raw = [value_of(e, cid, f"{metric_prefix(metric)}median_ms") for e in mine]
    ax.plot(x, norm, marker="o", ms=3, color="#1f77b4", label=f"{metric} / calibration (median)")
    raw_ax = ax.twinx()
    raw_ax.plot(x, raw, ls=":", color="grey", lw=1)
    raw_ax.set_ylabel(f"raw {metric} ms", fontsize=7, color="grey")
    raw_ax.tick_params(labelsize=7, colors="grey")
    idx = [i for i, v in enumerate(norm) if not math.isnan(v)]
    top = max((norm[i] for i in idx), default=1.0)
    for s in step_changes([norm[i] for i in idx], threshold):
        ax.axvline(idx[s.index] - 0.5, color="red", ls="--", lw=1)
        ax.annotate(f"{(s.ratio - 1) * 100:+.0f}%", (idx[s.index] - 0.5, top), color="red", fontsize=8)
    ax.set_title(cid, fontsize=9, loc="left")
    ax.set_ylabel(f"{metric} / cal")
    ax.grid(alpha=0.3)


def history_png(entries: list[dict], suite: str, threshold: float = 0.05) -> bytes:
    """Per case over the history of `suite` (its last MAX_PLOT_RUNS runs), as PNG bytes: the
    calibration-normalised median of the suite's metric (what `regress` and `history show` decide on), with raw
    milliseconds in grey on a second axis. Dashed lines mark step changes found in the normalised metric (see
    history.step_changes)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines
    import matplotlib.pyplot as plt

    mine = [e for e in entries if e["suite"] == suite][-MAX_PLOT_RUNS:]
    if not mine:
        raise SwinprofError(f"no history for suite {suite!r}; add results first with: swinprof history add")
    case_ids = list(dict.fromkeys(cid for e in mine for cid in e["cases"]))
    if not case_ids or len(case_ids) > MAX_PLOT_CASES:
        raise SwinprofError(f"suite {suite!r} has {len(case_ids)} cases in its history: the plot draws 1 to "
                            f"{MAX_PLOT_CASES} (one panel each)")  # fmt: skip
    labels = [f"#{i} {(e.get('git_sha') or '?')[:7]}" for i, e in enumerate(mine, 1)]
    fig, axes = plt.subplots(len(case_ids), 1, figsize=(max(6, 0.35 * len(mine) + 3), 2.4 * len(case_ids)),
                             squeeze=False, sharex=True)  # fmt: skip
    x = list(range(len(mine)))
    metric = mine[-1].get("metric", "wall")
    for ax, cid in zip(axes[:, 0], case_ids):
        _plot_case(ax, mine, cid, metric, threshold)
    axes[-1, 0].set_xticks(x, labels, rotation=60, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{suite}: {metric} time / calibration over runs (what regress decides on; red: step changes)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def plot_history(entries: list[dict], suite: str, path: str | os.PathLike, threshold: float = 0.05) -> Path:
    """Write `history_png` to `path` atomically."""
    return atomic_write_bytes(Path(path), history_png(entries, suite, threshold))
