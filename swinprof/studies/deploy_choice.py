"""The answer to "what should I deploy on this machine?": the fastest recipe of a run at or above a fidelity floor.

From the rows one `swinprof run` measured (one machine, the same inputs, all recipes timed interleaved): per batch
size, the recipe with the lowest median latency whose SQNR against fp32 eager is at least the floor's and, when the
run had labeled images, whose acc@1 fell by at most the floor's points. fp32 eager always qualifies (its SQNR is
infinite), so every batch size has an answer. Recipes within `GAP_MARGIN` of the chosen one are named beside it:
on a shared machine that much is noise, and the next run may order them the other way. Faster recipes below the
floor are named too, with what they missed, so the price of the floor is visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from swinprof.optimize.candidates import CandidateSet
from swinprof.studies.faster_runtimes import GAP_MARGIN

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MIN_SQNR_DB = 30.0  # swin_s int8 paths: 29.5-34.4 dB (random weights); bf16 autocast: about 43 dB
DEFAULT_MAX_ACC_DROP = 1.0  # acc@1 points below fp32 on the same labeled images


@dataclass(frozen=True)
class Floor:
    """The fidelity a deployment must keep: SQNR of its logits vs fp32 eager (dB), and, on labeled images, the
    largest fall of acc@1 below fp32's (points)."""

    min_sqnr_db: float = DEFAULT_MIN_SQNR_DB
    max_acc_drop: float = DEFAULT_MAX_ACC_DROP

    def describe(self, labeled: bool) -> str:
        text = f"SQNR vs fp32 eager >= {self.min_sqnr_db:g} dB"
        if labeled:
            return text + f" and acc@1 at most {self.max_acc_drop:g} points below fp32 eager's"
        return text + " (with --data on labeled images, also an acc@1 drop limit)"


@dataclass(frozen=True)
class DeployQuestion:
    """What `swinprof run` was asked to choose with: the floor, and the candidate set when it ran `native`."""

    floor: Floor
    candidates: CandidateSet | None = None


@dataclass(frozen=True)
class Choice:
    """The fastest recipe at or above the floor at one batch size, as measured: `close` names the others that
    qualify within GAP_MARGIN of its median; `below_floor` the faster ones that missed the floor, with why."""

    batch: int
    recipe: str
    median_ms: float
    speedup: float
    sqnr_db: float | None
    d_acc1: float | None
    close: tuple[str, ...] = ()
    below_floor: tuple[str, ...] = ()

    def line(self, baseline: str) -> str:
        """The answer in words, e.g. `batch 1: int8-x86-cpu, 1.47x fp32-eager (153.9 ms), SQNR 32.9 dB`."""
        if self.recipe == baseline:
            text = f"batch {self.batch}: {self.recipe} (no recipe is faster at or above the floor)"
        else:
            sqnr = "logits identical to fp32" if math.isinf(self.sqnr_db) else f"SQNR {self.sqnr_db:.1f} dB"
            speed = f"{self.speedup:.2f}x {baseline} ({self.median_ms:.1f} ms)"
            text = f"batch {self.batch}: {self.recipe}, {speed}, {sqnr}"
            if self.d_acc1 is not None:
                text += f", acc@1 {self.d_acc1:+.2f} pt"
        if self.close:
            text += f"; within {GAP_MARGIN - 1:.0%}: {', '.join(self.close)}"
        return text


def _number(value) -> float | None:
    """A row's measured value, None where it was not measured (NaN in a table)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def shortfall(row: Mapping, floor: Floor) -> str | None:
    """What `row` misses of `floor`, in a few words (None: it qualifies)."""
    sqnr, d_acc1 = _number(row.get("sqnr_db")), _number(row.get("d_acc1"))
    if sqnr is None:
        return "SQNR not measured"
    if sqnr < floor.min_sqnr_db:
        return f"{sqnr:.1f} dB"
    if d_acc1 is not None and -d_acc1 > floor.max_acc_drop:
        return f"acc@1 {d_acc1:+.2f} pt"
    return None


def choose(rows: Sequence[Mapping], floor: Floor) -> list[Choice]:
    """One Choice per batch size of `rows` (a run's comparison rows: `recipe`, `batch`, `median_ms`, `speedup`,
    `sqnr_db`, `d_acc1`), in batch order."""
    out = []
    for batch in sorted({int(r["batch"]) for r in rows}):
        same = sorted((r for r in rows if int(r["batch"]) == batch), key=lambda r: r["median_ms"])
        ok = [r for r in same if shortfall(r, floor) is None]
        if not ok:
            continue  # no baseline row at this batch: nothing measured to choose from
        best = ok[0]
        close = tuple(r["recipe"] for r in ok[1:] if r["median_ms"] < best["median_ms"] * GAP_MARGIN)
        below = tuple(f"{r['recipe']} ({shortfall(r, floor)})" for r in same
                      if r["median_ms"] < best["median_ms"] and shortfall(r, floor))  # fmt: skip
        out.append(Choice(batch, best["recipe"], float(best["median_ms"]), float(best["speedup"]),
                          _number(best.get("sqnr_db")), _number(best.get("d_acc1")), close, below))  # fmt: skip
    return out


def choice_frame(choices: Sequence[Choice]) -> pd.DataFrame:
    """One row per batch size: the recipe to deploy, its latency and fidelity, its near ties, what the floor cut."""
    import pandas as pd

    rows = [{"batch": c.batch, "deploy": c.recipe, "speedup vs fp32": c.speedup, "median ms": c.median_ms,
             "SQNR dB": c.sqnr_db if c.sqnr_db is not None and math.isfinite(c.sqnr_db) else None,
             "Δacc@1": c.d_acc1, f"within {GAP_MARGIN - 1:.0%}": ", ".join(c.close) or "-",
             "faster, below the floor": ", ".join(c.below_floor) or "-"} for c in choices]  # fmt: skip
    return pd.DataFrame(rows)


def choice_notes(question: DeployQuestion, labeled: bool) -> list[str]:
    """What the choice table means: the floor, the candidates, and that it holds for this run's machine."""
    notes = [
        f"deploy: per batch size, the recipe with the lowest median latency in this run whose fidelity meets the "
        f"floor: {question.floor.describe(labeled)}; fp32 eager always meets it",
        f"within {GAP_MARGIN - 1:.0%}: other recipes at or above the floor whose median is within {GAP_MARGIN - 1:.0%}"
        " of the chosen one's (noise on a shared machine: either may win the next run)",
        "measured here only: speed ratios depend on the CPU's native precisions (below), threads and load; a "
        "busy-machine warning means run it again on a quiet one",
    ]
    if question.candidates is not None:
        notes.append(f"candidates: {question.candidates.describe()}")
    return notes


def choice_record(question: DeployQuestion, choices: Sequence[Choice]) -> dict:
    """The choice for record.json: the floor, the candidate set, and the answer per batch size."""
    found = question.candidates
    return {
        "floor": asdict(question.floor),
        "candidates": found.names if found else None,
        "left_out": dict(found.left_out) if found else None,
        "choices": [asdict(c) for c in choices],
    }
