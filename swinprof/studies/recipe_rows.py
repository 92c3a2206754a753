"""The comparison rows of a recipe run: one per (model, batch size), from what the run measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from swinprof.evaluate.fidelity import Fidelity
from swinprof.evaluate.imagefolder import Accuracy
from swinprof.optimize.candidates import native_cell
from swinprof.optimize.compile import CompileStats
from swinprof.optimize.fresh import FreshPeak
from swinprof.optimize.prepare import Prepared
from swinprof.optimize.proof import QuantizedCount
from swinprof.optimize.recipe import Recipe
from swinprof.studies.recipe_prepare import BASELINE
from swinprof.studies.recipe_timing import TimedRun

SLOWER_MARGIN = 1.0  # a speedup below this is flagged "slower"
LOW_SQNR_DB = 20.0


@dataclass
class Measured:
    """Everything measured per model, gathered for the rows (keys: model name, or (name, batch size))."""

    timed: TimedRun
    first: dict[tuple[str, int], float]
    fidelity: dict[str, Fidelity]
    accuracy: dict[str, Accuracy] | None
    process_peaks: dict[tuple[str, int], FreshPeak] | None
    compile_stats: dict[str, CompileStats]
    quantized: dict[str, QuantizedCount] = field(default_factory=dict)


def _describe_compile(r: Recipe) -> str:
    return "-" if r.compile.backend == "none" else f"{r.compile.backend}:{r.compile.mode}"


def _mib(value: int | None) -> float | None:
    return value / 2**20 if value is not None else None


def flags(name: str, speedup: float, f: Fidelity | None) -> list[str]:
    """What the row's `flag` column says: slower than fp32, SQNR below LOW_SQNR_DB."""
    out = []
    if name != BASELINE and speedup < SLOWER_MARGIN:
        out.append("SLOWER than fp32")
    if f is not None and name != BASELINE and f.sqnr_db < LOW_SQNR_DB:
        out.append(f"SQNR < {LOW_SQNR_DB:g} dB")
    return out


def _quality(name: str, m: Measured) -> dict:
    f = m.fidelity.get(name)
    a = m.accuracy.get(name) if m.accuracy else None
    a0 = m.accuracy.get(BASELINE) if m.accuracy else None
    return {
        "sqnr_db": f.sqnr_db if f else None,
        "top1_agree": f.top1_agreement if f else None,
        "top5_agree": f.top5_agreement if f else None,
        "cosine": f.cosine if f else None,
        "max_abs_err": f.max_abs_err if f else None,
        "acc1": a.acc1 if a else None,
        "acc5": a.acc5 if a else None,
        "d_acc1": (a.acc1 - a0.acc1) if a and a0 else None,
    }


def _memory(name: str, b: int, m: Measured, size: int | None) -> dict:
    tensor = m.timed.tensor_peaks.get((name, b))
    fresh = m.process_peaks.get((name, b)) if m.process_peaks is not None else None
    process = fresh.bytes if fresh is not None else None
    return {"size_bytes": size, "size_mb": _mib(size), "tensor_peak_bytes": tensor, "tensor_peak_mb": _mib(tensor),
            "process_peak_bytes": process, "process_peak_mb": _mib(process)}  # fmt: skip


def _compile_columns(name: str, m: Measured) -> dict:
    stats = m.compile_stats.get(name)
    if stats is None:
        return {"compile_graphs": None, "compile_breaks": None, "compile_recompiles": None, "dynamo": "-"}
    return {"compile_graphs": stats.graphs, "compile_breaks": stats.breaks, "compile_recompiles": stats.recompiles,
            "dynamo": stats.summary}  # fmt: skip


def comparison_rows(
    recipes: Sequence[Recipe], prepared: Mapping[str, Prepared], m: Measured, baseline_size: int
) -> list[dict]:
    """One row per (model, batch size) in timing order: machine column names (the record's `results`)."""
    rows = []
    by_name = {r.name: r for r in recipes}
    timings = m.timed.timings
    for (name, b), timing in timings.items():
        r, p = by_name.get(name), prepared.get(name)
        speedup = timings[(BASELINE, b)].median / timing.median
        rows.append({
            "recipe": name,
            "method": r.quantize.method if r else "none",
            "runtime": r.target.runtime if r else "pytorch",
            "compile": _describe_compile(r) if r else "-",
            "native": native_cell(r),
            "quantized_linears": m.quantized[name].cell if name in m.quantized else "-",
            "batch": b,
            "median_ms": timing.median,
            "p90_ms": timing.p90,
            "img_per_s": 1e3 * b / timing.median,
            "speedup": speedup,
            **_quality(name, m),
            **_memory(name, b, m, baseline_size if p is None else p.size_bytes),
            "prepare_s": p.prepare_s if p else 0.0,
            "first_call_s": m.first[(name, b)],
            **_compile_columns(name, m),
            "flag": "; ".join(flags(name, speedup, m.fidelity.get(name))),
        })  # fmt: skip
    return rows
