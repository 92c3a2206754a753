"""The crossover map as one Report: a line per recipe, every point with its roofline context, and the chart."""

from __future__ import annotations

import pandas as pd

from swinprof.measure.environment import busy_warning
from swinprof.measure.native import cpu_support
from swinprof.measure.peaks import Ceiling
from swinprof.measure.timing import Timing
from swinprof.optimize.recipe import Recipe
from swinprof.report.document import Chart, Report
from swinprof.studies.crossover import (
    CONFIDENCE,
    Speedup,
    bound_side,
    crossover,
    gemm_cost,
    speedup_interval,
    summary_line,
)
from swinprof.studies.crossover_run import CrossoverResult, operand_bytes

# Dense 8-bit GEMM throughput over the floating-point ceiling's dtype (bf16 on CUDA), from published specs (not
# measured): Hopper/Ada tensor cores run int8/fp8 at twice bf16. On a CPU the rate over fp32 comes from its
# instruction set (`measure.native`): 4 for int8 with VNNI/AMX (a floor for AMX), 2 on AVX2 without VNNI, 2 for
# bf16 with AVX512_BF16/AMX-BF16, 1 where a format is emulated.
EIGHT_BIT_RATE_GPU = 2.0


def compute_rate(device: str, cpu_features: str, recipe: Recipe) -> float:
    """How many times the floating-point compute ceiling (fp32 on CPU, bf16 on CUDA) `recipe`'s GEMMs can reach
    on this device, from the width of their operands and the device's instruction set or spec (see above)."""
    act, weight, _ = operand_bytes(recipe)
    widest = max(act, weight)
    if device == "cuda":
        return EIGHT_BIT_RATE_GPU if widest <= 1 else 1.0
    if widest > 2:
        return 1.0
    precision = "int8" if widest <= 1 else recipe.target.precision
    return cpu_support(precision, frozenset(cpu_features.split())).rate


def speedups(result: CrossoverResult) -> dict[str, dict[int, Speedup]]:
    """recipe -> batch -> speedup over the baseline with its interval (the baseline itself left out)."""
    out: dict[str, dict[int, Speedup]] = {}
    for name in result.models[1:]:
        out[name] = {b: speedup_interval(result.samples[(result.baseline, b)], result.samples[(name, b)])
                     for b in result.measured if (name, b) in result.samples}  # fmt: skip
    return out


def _point_rows(result: CrossoverResult, sp: dict, compute: Ceiling, bandwidth: Ceiling, features: str) -> list[dict]:
    rows = []
    for name in result.models:
        act, weight, out = operand_bytes(result.recipes[name])
        ridge = compute.value * compute_rate(result.device, features, result.recipes[name]) / bandwidth.value
        for b in (b for b in result.measured if (name, b) in result.samples):
            t = Timing(result.samples[(name, b)])
            point = sp.get(name, {}).get(b)
            flops, nbytes = gemm_cost(result.gemms, b, act, weight, out)
            rows.append({
                "recipe": name, "batch": b, "median ms": t.median, "p90 ms": t.p90,
                "img/s": 1e3 * b / t.median,
                "speedup": point.value if point else 1.0, "speedup low": point.low if point else None,
                "speedup high": point.high if point else None, "wins": point.wins if point else None,
                "first call s": result.first_call_s[(name, b)], "GEMM GFLOP": flops / 1e9,
                "GEMM intensity (FLOP/B)": flops / nbytes, "ridge (FLOP/B)": ridge,
                "GEMM bound": bound_side(flops / nbytes, ridge),
            })  # fmt: skip
    return rows


def _summary_rows(sp: dict[str, dict[int, Speedup]], stop: str | None, failed: dict[str, str]) -> list[dict]:
    rows = []
    for name, by_batch in sp.items():
        if not by_batch:
            rows.append({"recipe": name, "kind": "failed", "summary": f"{name} {failed.get(name, 'was not measured')}"})
            continue
        c = crossover(by_batch)
        last = max(by_batch)
        line = summary_line(name, by_batch, stop) + (f"; {failed[name]}" if name in failed else "")
        rows.append({"recipe": name, "crossover batch": c.batch, "kind": c.kind,
                     "at crossover": by_batch[c.batch].text() if c.batch else "-",
                     f"at b{last}": by_batch[last].text(), "summary": line})  # fmt: skip
    return rows


def _notes(result: CrossoverResult, env: dict, compute: Ceiling, bandwidth: Ceiling) -> list[str]:
    timer = "CUDA events" if result.device == "cuda" else "wall clock (perf_counter)"
    notes = [
        f"CPU: {env.get('cpu')} ({env.get('cpu_features')}); {env.get('threads')} threads. Speedups depend on "
        "the vector and int8 features (AVX2 / AVX-512 / VNNI / AMX)"
        + (f"; GPU: {env.get('gpu')}" if env.get("gpu") else ""),
        f"latency: median and p90 of {result.iters} timed calls per model and batch ({timer}), the models timed "
        f"round-robin (interleaved) after {result.warmup} warm-up calls each and one first call timed apart "
        f"('first call s': the compile, where there is one); {result.settle_ms:g} ms idle before each timed call "
        "(the recipe run's settle rule); img/s = batch / median",
        f"speedup: Hodges-Lehmann estimate of {result.baseline} / recipe latency (the median of all pairwise "
        f"ratios of the timed calls); [low, high]: the {CONFIDENCE:.0%} rank interval around it (distribution-free, "
        "on log latencies; swinprof.measure.stats), one estimator for point, interval and verdict. A recipe wins at "
        "a batch when low > 1; its crossover is the smallest batch from which it wins at every larger batch "
        "measured",
        "GEMM: every Linear layer of the model at batch x tokens (FLOPs = 2 M K N; bytes = input M x K and weight "
        "K x N read, output M x N written) at the recipe's operand widths (its method's registered weight / "
        "activation bits, else the target precision; layers the recipe skips counted like the rest)",
        f"ridge = compute ceiling / bandwidth ceiling: {compute.describe()}; {bandwidth.describe()}; for narrower "
        "operands the compute ceiling x the device's rate for them, from its instruction set or spec, not measured "
        "(CPU: int8 x4 with VNNI/AMX, x2 on AVX2; bf16 x2 with AVX512_BF16/AMX-BF16, x1 where emulated; CUDA: "
        f"8-bit x{EIGHT_BIT_RATE_GPU:g} over bf16). GEMM bound: the side of the ridge the GEMMs' intensity falls on",
    ]
    if result.stop:
        notes.append(f"ladder: {result.stop}")
    return notes


def crossover_report(result: CrossoverResult, env: dict, load_before: float | None = None,
                     title: str | None = None) -> Report:  # fmt: skip
    """The Report of a measured map (`env`: the environment record taken at its end)."""
    compute, bandwidth = result.compute, result.bandwidth
    features = str(env.get("cpu_features", ""))
    sp = speedups(result)
    title = title or (f"Crossover: {result.model} {result.img_size}x{result.img_size} on {result.device}, speedup "
                      f"over {result.baseline} by batch")  # fmt: skip
    settings = {"model": result.model, "img_size": result.img_size, "device": result.device,
                "baseline": result.baseline, "recipes": result.models[1:], "batches_planned":
                list(result.planned.batches), "batches_measured": result.measured, "stop": result.stop or "-",
                "warmup": result.warmup, "iters": result.iters, "settle_ms": result.settle_ms}  # fmt: skip
    report = Report(title, environment=env, settings=settings)
    summary = pd.DataFrame(_summary_rows(sp, result.stop, result.failed))
    report.add("summary", "Where each recipe starts to win", summary,
               essential=("recipe", "crossover batch", "summary"))  # fmt: skip
    points = pd.DataFrame(_point_rows(result, sp, compute, bandwidth, features))
    report.add("points", "Every point: latency, throughput, speedup, roofline context", points,
               essential=("recipe", "batch", "median ms", "img/s", "speedup", "speedup low", "GEMM bound"))  # fmt: skip
    prep = pd.DataFrame([{"recipe": n, "prepare s": s} for n, s in result.prepare_s.items()])
    report.add("prepare", "Preparation (once per recipe)", prep)
    report.notes += _notes(result, env, compute, bandwidth)
    report.warnings += [f"{n} {why}; the rest of the ladder ran without it" for n, why in result.failed.items()]
    report.warnings += result.compile_problems + busy_warning(env, load_before)
    if result.stop:
        report.warnings.append(f"the ladder was cut: {result.stop}")
    lines = {n: pd.DataFrame([{"batch": b, "speedup": s.value, "low": s.low, "high": s.high}
                              for b, s in by.items()]) for n, by in sp.items() if by}  # fmt: skip
    if result.measured:
        from swinprof.report.chart import speedup_vs_batch_svg

        chart_title = f"{result.model} on {result.device}: speedup over {result.baseline}"
        report.charts.append(Chart("speedup", "Speedup vs batch",
                                   lambda: speedup_vs_batch_svg(lines, result.baseline, chart_title)))  # fmt: skip
    return report
