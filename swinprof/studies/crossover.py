"""The precision x batch crossover map, as pure functions over measured samples: where a recipe starts to win.

A recipe *wins* at a batch when the lower bound of its speedup interval over the baseline is above 1. Point,
interval and verdict come from one estimator: the Hodges-Lehmann estimate of the latency ratio (the median of all
pairwise ratios baseline_i / recipe_j) with the 95% rank interval around it (`swinprof.measure.stats.ratio_interval`,
the one the regression tracker uses: distribution-free, on log latencies), inverted into a speedup, so the point
always lies inside its interval (a ratio of medians need not: with bimodal samples it can fall outside). A point
needs at least `measure.stats.fewest_samples()` timed calls per model (4 at 95%): with fewer, no rank interval
reaches 95% and the map is refused rather than shown with [min, max]. The *crossover batch* of a recipe is the smallest
measured batch from which it wins at that batch and at every larger batch measured. A recipe whose interval
reaches below 1 at the largest batch has no crossover on the ladder (it may still win at some smaller batches:
the summary says which). A point that does not win is *slower* when its whole interval is below 1 and
*inconclusive* when the interval spans 1; the summary names which, so that a crossover pushed up by one noisy point
reads differently from one below which the recipe really loses.

The roofline context of a point is the arithmetic intensity of the model's Linear GEMMs at that batch
(`gemm_cost`), at the operand widths the recipe reads, against the ridge point of the machine's ceilings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
WINS, NEVER, FROM_FIRST = "wins", "never", "from-first"


@dataclass(frozen=True)
class Speedup:
    """Speedup of one recipe over the baseline at one batch: `value`, the Hodges-Lehmann estimate of
    baseline / recipe latency; `low`, `high`: its interval (see the module docstring); `wins`: `low > 1`."""

    value: float
    low: float
    high: float

    @property
    def wins(self) -> bool:
        return self.low > 1.0

    @property
    def verdict(self) -> str:
        """`wins` (interval above 1), `slower` (interval below 1) or `inconclusive` (it spans 1)."""
        return "wins" if self.wins else "slower" if self.high < 1.0 else "inconclusive"

    def text(self) -> str:
        """`1.45x [1.38, 1.52]`."""
        return f"{self.value:.2f}x [{self.low:.2f}, {self.high:.2f}]"


def speedup_interval(baseline_ms: Sequence[float], recipe_ms: Sequence[float],
                     confidence: float = CONFIDENCE) -> Speedup:  # fmt: skip
    """Speedup of `recipe_ms` over `baseline_ms` (latency samples of one interleaved timing, ms) with its interval.

    Sample counts that cannot give a `confidence` interval raise `measure.stats.StatisticsError` (3 vs 3 at 95%:
    the widest interval covers 90%)."""
    from swinprof.measure.stats import ratio_interval

    ratio, low_ratio, high_ratio = ratio_interval(list(baseline_ms), list(recipe_ms), confidence)
    return Speedup(1.0 / ratio, 1.0 / high_ratio, 1.0 / low_ratio)


def check_iters(iters: int, confidence: float = CONFIDENCE) -> None:
    """Refuse a timed-call count per point that cannot give a `confidence` speedup interval (before any work)."""
    from swinprof.measure.stats import StatisticsError, fewest_samples, widest_confidence

    if widest_confidence(iters, iters) < confidence:
        raise StatisticsError(f"--iters {iters}: {iters} timed calls per point cannot give a {confidence:.0%} "
                              f"speedup interval (the widest covers {widest_confidence(iters, iters):.0%}); use "
                              f"--iters {fewest_samples(confidence)} or more")  # fmt: skip


@dataclass(frozen=True)
class Crossing:
    """Where one recipe starts to win on the measured ladder. `kind`: `from-first` (wins at every batch),
    `wins` (from `batch` on), `never` (not at the largest batch measured); `winning`: every batch it wins at."""

    kind: str
    batch: int | None
    winning: tuple[int, ...]


def crossover(speedups: dict[int, Speedup]) -> Crossing:
    """The crossover of one recipe from its speedup per batch (any order)."""
    batches = sorted(speedups)
    winning = tuple(b for b in batches if speedups[b].wins)
    start = None
    for b in reversed(batches):
        if not speedups[b].wins:
            break
        start = b
    if start is None:
        return Crossing(NEVER, None, winning)
    return Crossing(FROM_FIRST if start == batches[0] else WINS, start, winning)


def _points(speedups: dict[int, Speedup], batches: Sequence[int]) -> str:
    """`wins at b1; inconclusive at b2 (1.42x [0.91, 2.68])`: the verdict of each batch, grouped by verdict, with
    the figures of the points that did not win (the ones a reader has to see to judge the crossover)."""
    parts = []
    for verdict in ("wins", "inconclusive", "slower"):
        these = [b for b in batches if speedups[b].verdict == verdict]
        if these:
            figures = "" if verdict == "wins" else " (" + ", ".join(speedups[b].text() for b in these) + ")"
            parts.append(f"{verdict} at {', '.join(f'b{b}' for b in these)}{figures}")
    return "; ".join(parts)


def summary_line(recipe: str, speedups: dict[int, Speedup], stopped: str | None = None) -> str:
    """One line per recipe, e.g. `int8-x86-cpu wins from batch 1 (1.45x [1.38, 1.52] at b1)`. Below a crossover
    past the first batch, and at the largest batch when there is none, it says whether the recipe was slower there
    or the interval only spanned 1 (inconclusive: a noisy point that a second run may settle)."""
    c = crossover(speedups)
    batches = sorted(speedups)
    last = batches[-1]
    tail = " (the ladder stopped early: see the notes)" if stopped else ""
    if c.kind == NEVER:
        some = f"; wins only at batch {', '.join(map(str, c.winning))}" if c.winning else ""
        at_last = f"{speedups[last].text()} at b{last}, {speedups[last].verdict}"
        return f"{recipe} never wins on this ladder ({at_last}{some}){tail}"
    at = f"{speedups[c.batch].text()} at b{c.batch}"
    if c.batch != last:  # the largest batch too, unless the crossover is there
        at += f"; {speedups[last].text()} at b{last}"
    below = [b for b in batches if b < c.batch]
    before = f"; below it: {_points(speedups, below)}" if below else ""
    return f"{recipe} wins from batch {c.batch} ({at}){before}{tail}"


# ------------------------------------------------------------------------------------------- memory bound


@dataclass(frozen=True)
class Ladder:
    """The batches to measure and, when the ladder was cut, why (`stop`, one sentence)."""

    batches: tuple[int, ...]
    stop: str | None = None


def plan_ladder(batches: Sequence[int], need_bytes: Callable[[int], int], available_bytes: int | None,
                where: str = "memory") -> Ladder:  # fmt: skip
    """`batches` ascending, cut before the first whose estimated need (`need_bytes(batch)`) exceeds
    `available_bytes` (None: unknown, nothing is cut)."""
    ordered = sorted(set(batches))
    if available_bytes is None:
        return Ladder(tuple(ordered))
    for i, b in enumerate(ordered):
        need = need_bytes(b)
        if need > available_bytes:
            gib = 2**30
            stop = (f"stopped before batch {b}: it needs an estimated {need / gib:,.1f} GiB of {where} (weights of "
                    f"every model held + one forward's input and activations, tensors only) and "
                    f"{available_bytes / gib:,.1f} GiB was available when the run started")  # fmt: skip
            return Ladder(tuple(ordered[:i]), stop)
    return Ladder(tuple(ordered))


# ----------------------------------------------------------------------------------------- roofline context


@dataclass(frozen=True)
class Gemm:
    """One Linear layer's GEMM at batch 1: `(rows, in_features) @ (in_features, out_features)`; rows = tokens
    the layer sees per image (1 for the head)."""

    rows: int
    in_features: int
    out_features: int


def gemm_cost(gemms: Sequence[Gemm], batch: int, activation_bytes: float, weight_bytes: float,
              output_bytes: float) -> tuple[float, float]:  # fmt: skip
    """(FLOPs, bytes) of every GEMM at `batch`: FLOPs = 2 M K N with M = batch x rows; bytes = the input
    `M x K` read, the weight `K x N` read once, the output `M x N` written, at the given element sizes."""
    flops = nbytes = 0.0
    for g in gemms:
        m = batch * g.rows
        flops += 2.0 * m * g.in_features * g.out_features
        nbytes += (m * g.in_features * activation_bytes + g.in_features * g.out_features * weight_bytes
                   + m * g.out_features * output_bytes)  # fmt: skip
    return flops, nbytes


def bound_side(intensity: float, ridge: float) -> str:
    """`compute-bound` at or right of the ridge point (FLOP/byte), else `memory-bound`."""
    return "compute-bound" if intensity >= ridge else "memory-bound"
