"""The crossover computation on planted timings, the memory-bounded ladder, the GEMM roofline context, and one
measured map of a tiny model."""

from __future__ import annotations

import random
import statistics

import pytest

from swinprof.measure.stats import StatisticsError
from swinprof.optimize.methods import methods
from swinprof.studies.crossover import (
    FROM_FIRST,
    NEVER,
    WINS,
    Gemm,
    check_iters,
    crossover,
    gemm_cost,
    plan_ladder,
    speedup_interval,
    summary_line,
)

GIB = 2**30
LADDER = (1, 2, 4, 8, 16, 32)
WIDE = [50.0 + 10 * i for i in range(11)]  # latencies of a noisy point: 50 to 150 ms, median 100


def _samples(center: float, spread: float, seed: int, n: int = 20) -> list[float]:
    """`n` latencies around `center` ms, uniform within +-spread (seeded)."""
    rng = random.Random(seed)
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def _map(recipe_ms: dict[int, float], spread: float = 0.02) -> dict:
    """Speedups of a recipe over a 100 ms baseline, batch -> planted median latency of the recipe."""
    return {
        b: speedup_interval(_samples(100.0, spread, b), _samples(ms, spread, 1000 + b)) for b, ms in recipe_ms.items()
    }


def test_identical_samples_give_an_exact_speedup_and_interval():
    s = speedup_interval([100.0] * 10, [50.0] * 10)
    assert (s.value, s.low, s.high) == pytest.approx((2.0, 2.0, 2.0))
    assert s.wins and s.text() == "2.00x [2.00, 2.00]"


def test_a_recipe_that_wins_only_from_batch_8_crosses_at_8():
    sp = _map({1: 130.0, 2: 115.0, 4: 104.0, 8: 80.0, 16: 70.0, 32: 60.0})
    c = crossover(sp)
    assert (c.kind, c.batch, c.winning) == (WINS, 8, (8, 16, 32))
    line = summary_line("int8-x86-cpu", sp)
    assert line.startswith("int8-x86-cpu wins from batch 8 (1.2") and "at b8" in line
    assert "; below it: slower at b1, b2, b4 (0.7" in line
    assert "inconclusive" not in line and line.count("[") == 5  # b8, b32 and the three slower points


def test_a_crossover_pushed_up_by_one_noisy_point_says_so():
    # Wins clearly at b1 and from b4 on; b2 is 1.3x by the medians but each side spreads 50-150 ms: the interval
    # spans 1.
    sp = _map({1: 55.0, 4: 55.0, 8: 55.0})
    sp[2] = speedup_interval(WIDE, [ms / 1.3 for ms in WIDE])
    assert sp[2].verdict == "inconclusive" and sp[1].verdict == "wins"
    assert crossover(sp).batch == 4
    line = summary_line("int8-x86-cpu", sp)
    assert f"; below it: wins at b1; inconclusive at b2 ({sp[2].text()})" in line


def test_a_crossover_at_the_largest_batch_is_named_once():
    sp = _map({1: 130.0, 2: 120.0, 4: 110.0, 8: 70.0})
    line = summary_line("compile-inductor", sp)
    assert crossover(sp).batch == 8 and line.count("at b8") == 1 and "at b8); below it: slower at b1, b2, b4" in line


def test_a_recipe_that_never_wins_says_so():
    sp = _map(dict.fromkeys(LADDER, 140.0))
    assert crossover(sp).kind == NEVER and crossover(sp).batch is None
    line = summary_line("fp8-dynamic", sp)
    assert line.startswith("fp8-dynamic never wins on this ladder (0.7") and "at b32, slower)" in line


def test_never_winning_through_a_noisy_largest_batch_is_inconclusive_there():
    sp = _map({1: 80.0, 2: 80.0})
    sp[4] = speedup_interval(WIDE, [ms / 0.9 for ms in WIDE])
    line = summary_line("compile-inductor", sp)
    assert crossover(sp).kind == NEVER and line.endswith(
        f"({sp[4].text()} at b4, inconclusive; wins only at batch 1, 2)"
    )


def test_winning_everywhere_is_from_batch_1():
    sp = _map(dict.fromkeys(LADDER, 69.0))
    assert (crossover(sp).kind, crossover(sp).batch) == (FROM_FIRST, 1)
    assert summary_line("openvino-int8", sp).startswith("openvino-int8 wins from batch 1 (1.4")


def test_winning_at_small_batches_only_is_no_crossover():
    sp = _map({1: 80.0, 2: 85.0, 4: 120.0, 8: 130.0})
    c = crossover(sp)
    assert (c.kind, c.winning) == (NEVER, (1, 2))
    assert "wins only at batch 1, 2" in summary_line("x", sp)


def test_a_noisy_overlap_is_not_a_win():
    # 5% faster by the medians, but each side spreads +-40%: the interval reaches well below 1.
    base, new = _samples(100.0, 0.4, 1), _samples(95.0, 0.4, 2)
    s = speedup_interval(base, new)
    assert s.low < 1.0 < s.high and not s.wins
    assert crossover({1: s, 2: s}).kind == NEVER


@pytest.mark.parametrize("n", [1, 2, 3])
def test_too_few_samples_for_a_95_percent_interval_are_refused(n):
    # 3 vs 3 timed calls: the widest rank interval ([min, max] of the 9 pairwise ratios) covers 90%, not 95%
    with pytest.raises(StatisticsError, match=f"{n} vs {n} samples cannot give a 95% interval"):
        speedup_interval([100.0 + i for i in range(n)], [10.0 + i for i in range(n)])
    with pytest.raises(StatisticsError, match=f"--iters {n}: .* use --iters 4 or more"):
        check_iters(n)
    check_iters(4)
    s = speedup_interval([100.0, 101.0, 102.0, 103.0], [10.0, 10.1, 10.2, 10.3])
    assert s.wins and s.low == pytest.approx(100.0 / 10.3)  # 4 vs 4: the widest interval, which covers 97.1%


def test_point_interval_and_verdict_are_one_estimate_even_with_bimodal_samples():
    # Two modes on each side, mixed differently: the ratio of medians is 0.55x, while every point of the rank
    # interval is near 1.1x. The point is the Hodges-Lehmann estimate, inside its interval, and the verdict
    # follows the interval.
    base = _samples(100.0, 0.005, 1, n=11) + _samples(200.0, 0.005, 2, n=9)
    recipe = _samples(91.0, 0.005, 3, n=9) + _samples(182.0, 0.005, 4, n=11)
    s = speedup_interval(base, recipe)
    pairwise = sorted(b / r for b in base for r in recipe)
    assert s.value == pytest.approx((pairwise[199] + pairwise[200]) / 2)
    assert s.low <= s.value <= s.high and s.wins
    assert s.value == pytest.approx(1.10, abs=0.01) and statistics.median(base) / statistics.median(recipe) < 0.6


def test_the_memory_bound_stops_the_ladder_before_the_first_batch_that_does_not_fit():
    need = lambda b: GIB + b * GIB // 2  # noqa: E731 - 1 GiB of weights, 0.5 GiB of activations per image
    ladder = plan_ladder(LADDER, need, int(4.5 * GIB), "cpu memory")
    assert ladder.batches == (1, 2, 4)
    assert ladder.stop.startswith("stopped before batch 8: it needs an estimated 5.0 GiB of cpu memory")
    assert "4.5 GiB was available" in ladder.stop
    assert plan_ladder(LADDER, need, None) == plan_ladder(LADDER, need, 100 * GIB)
    assert plan_ladder((4, 1, 2, 2), need, None).batches == (1, 2, 4)


def test_gemm_cost_by_hand():
    g = [Gemm(49, 96, 288), Gemm(1, 768, 1000)]
    flops, nbytes = gemm_cost(g, 2, activation_bytes=1, weight_bytes=1, output_bytes=2)
    assert flops == 2 * (98 * 96 * 288 + 2 * 768 * 1000)
    assert nbytes == (98 * 96 + 96 * 288 + 98 * 288 * 2) + (2 * 768 + 768 * 1000 + 2 * 1000 * 2)
    # Intensity grows with the batch (weights are read once per call) and with narrower operands.
    small, large = gemm_cost(g, 1, 4, 4, 4), gemm_cost(g, 64, 4, 4, 4)
    assert small[0] / small[1] < large[0] / large[1] < gemm_cost(g, 64, 1, 1, 4)[0] / gemm_cost(g, 64, 1, 1, 4)[1]


@pytest.mark.parametrize("name", sorted(set(methods()) - {"none"}))
def test_every_quantization_method_declares_its_weight_width(name):
    spec = methods()[name].spec
    assert spec.weight_bits in (4, 8), f"method {name} registers no weight_bits (the crossover's roofline needs it)"
    assert spec.activation_bits in (None, 8)


def test_a_dynamic_batch_compiles_two_graphs_for_a_ladder():
    import torch

    from swinprof.optimize.compile import CompiledModel

    counts = {}
    for dynamic in (False, True):
        torch._dynamo.reset()
        module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU()).eval()
        compiled = CompiledModel(module, backend="eager", dynamic_batch=dynamic)
        for b in (1, 2, 4, 8):
            compiled(torch.randn(b, 8))
        counts[dynamic] = compiled.stats().graphs
    assert counts == {False: 4, True: 2}  # batch 1 apart (dynamo's 0/1 rule), then one graph for 2, 4, 8


def test_a_recipe_that_fails_at_a_batch_leaves_the_ladder_and_the_rest_goes_on():
    import torch

    from swinprof.studies.crossover_run import CrossoverOptions, _time_batch

    def breaks_from_batch_2(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 2:
            raise ValueError("no kernel for this shape\nsecond line")
        return x.sum()

    fns = {"baseline": lambda x: x.sum(), "fragile": breaks_from_batch_2, "steady": lambda x: x.mean()}
    opts, failed = CrossoverOptions((1, 2), warmup=0, iters=2), {}
    got, _ = _time_batch(fns, 1, (3, 4, 4), torch.device("cpu"), opts, 0.0, failed)
    assert set(got) == {"baseline", "fragile", "steady"} and not failed
    got, first = _time_batch(fns, 2, (3, 4, 4), torch.device("cpu"), opts, 0.0, failed)
    assert set(got) == set(first) == {"baseline", "steady"} and set(fns) == {"baseline", "steady"}
    assert failed == {"fragile": "failed at batch 2 (first call): ValueError: no kernel for this shape"}
    with pytest.raises(ValueError):  # the baseline failing ends the map
        _time_batch({"baseline": breaks_from_batch_2}, 2, (3, 4, 4), torch.device("cpu"), opts, 0.0, {})


def test_the_report_of_a_planted_map_with_a_failed_recipe():
    from swinprof.measure.peaks import Ceiling
    from swinprof.optimize.recipe import parse_recipe
    from swinprof.report.writer import report_markdown
    from swinprof.studies.crossover import Ladder
    from swinprof.studies.crossover_report import crossover_report
    from swinprof.studies.crossover_run import CrossoverResult

    names = ["fp32-eager", "fast", "broken"]
    recipes = {n: parse_recipe({"meta": {"name": n}}) for n in names}
    samples = {("fp32-eager", b): _samples(100.0, 0.02, b) for b in (1, 2)}
    samples |= {("fast", b): _samples(50.0, 0.02, 10 + b) for b in (1, 2)}
    first = dict.fromkeys(samples, 0.1)
    compute = Ceiling("compute", 100.0, "GFLOP/s", "fp32", "cpu", "k", "planted")
    bandwidth = Ceiling("bandwidth", 10.0, "GB/s", None, "cpu", "k", "planted")
    prepared = dict.fromkeys(names, 0.0)
    result = CrossoverResult("swin_t", 224, "cpu", "fp32-eager", names, recipes, samples, first, prepared,
                             Ladder((1, 2)), [1, 2], None, [Gemm(49, 96, 288)], 0, 20, 0.0, compute, bandwidth,
                             failed={"broken": "failed at batch 1 (first call): ValueError: no"})  # fmt: skip
    env = {"cpu": "Planted CPU", "cpu_features": "avx2 fma", "threads": 2, "device": "cpu", "cpu_count": 2}
    report = crossover_report(result, env)
    summary = {r["recipe"]: r["summary"] for r in report.table("summary").frame.to_dict("records")}
    assert summary["fast"].startswith("fast wins from batch 1 (2.00x [1.98, 2.01] at b1")
    assert summary["broken"] == "broken failed at batch 1 (first call): ValueError: no"
    assert any(w.startswith("broken failed at batch 1") for w in report.warnings)
    points = report.table("points").frame
    assert len(points) == 4 and set(points["recipe"]) == {"fp32-eager", "fast"}
    assert (points["ridge (FLOP/B)"] == 10.0).all()  # fp32 operands: the measured ceilings' ridge, no 8-bit rate
    assert report_markdown(report).startswith("# Crossover: swin_t 224x224 on cpu")
    assert "<svg" in report.charts[0].svg()
