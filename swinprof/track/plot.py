"""The history plot: latency over commits, one panel per case, step changes marked."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

from swinprof.errors import SwinprofError
from swinprof.report.files import atomic_write_bytes, ensure_writable_dir
from swinprof.track.history import metric_prefix, step_changes, value_of


def plot_history(entries: list[dict], suite: str, path: str | os.PathLike, threshold: float = 0.05) -> Path:
    """Median time in the suite's metric (with the p10-p90 band) per case over the history of `suite`, as PNG.

    Dashed lines mark step changes found in the calibration-normalised metric (see history.step_changes).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines
    import matplotlib.pyplot as plt

    mine = [e for e in entries if e["suite"] == suite]
    if not mine:
        raise SwinprofError(f"no history for suite {suite!r}; add results first with: swinprof history add")
    case_ids = list(dict.fromkeys(cid for e in mine for cid in e["cases"]))
    labels = [(e.get("git_sha") or "?")[:7] for e in mine]
    fig, axes = plt.subplots(len(case_ids), 1, figsize=(max(6, 0.35 * len(mine) + 3), 2.4 * len(case_ids)),
                             squeeze=False, sharex=True)  # fmt: skip
    x = list(range(len(mine)))
    metric = mine[-1].get("metric", "wall")
    pre = metric_prefix(metric)
    for ax, cid in zip(axes[:, 0], case_ids):
        med = [value_of(e, cid, f"{pre}median_ms") for e in mine]
        lo = [value_of(e, cid, f"{pre}p10_ms") for e in mine]
        hi = [value_of(e, cid, f"{pre}p90_ms") for e in mine]
        ax.fill_between(x, lo, hi, alpha=0.2, label="p10-p90")
        ax.plot(x, med, marker="o", ms=3, label="median")
        norm = [value_of(e, cid, f"{metric}_norm") for e in mine]
        idx = [i for i, v in enumerate(norm) if not math.isnan(v)]
        for s in step_changes([norm[i] for i in idx], threshold):
            ax.axvline(idx[s.index] - 0.5, color="red", ls="--", lw=1)
            ax.annotate(f"{(s.ratio - 1) * 100:+.0f}%", (idx[s.index] - 0.5, max(med)), color="red", fontsize=8)
        ax.set_title(cid, fontsize=9, loc="left")
        ax.set_ylabel(f"{metric} ms")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xticks(x, labels, rotation=60, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{suite}: latency over commits (red: step changes in {metric} / calibration)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else ".")
    return atomic_write_bytes(path, buf.getvalue())
