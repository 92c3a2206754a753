"""The comparison rows from hand-made measurements: speedup, throughput, MiB and flags computed as documented."""

from __future__ import annotations

import pytest

from swinprof.evaluate.fidelity import Fidelity
from swinprof.measure.timing import Timing
from swinprof.optimize.prepare import Prepared
from swinprof.optimize.presets import get_recipe
from swinprof.studies.recipe_rows import LOW_SQNR_DB, Measured, comparison_rows
from swinprof.studies.recipe_run import BASELINE
from swinprof.studies.recipe_timing import TimedRun


def _fidelity(sqnr_db: float) -> Fidelity:
    return Fidelity(samples=4, top1_agreement=1.0, top5_agreement=1.0, cosine=1.0, sqnr_db=sqnr_db, max_abs_err=0.0)


def test_rows_compute_speedup_throughput_and_flags_from_the_measurements():
    recipe = get_recipe("int8-dynamic")
    timed = TimedRun(
        timings={(BASELINE, 4): Timing([10.0, 12.0, 11.0]), (recipe.name, 4): Timing([40.0, 44.0, 42.0])},
        tensor_peaks={(BASELINE, 4): 3 * 2**20, (recipe.name, 4): None},
        warmup=1, iters=3, settle_ms=0.0,
    )  # fmt: skip
    prepared = {recipe.name: Prepared(recipe.name, lambda x: x, 1.5, 2**20)}
    fidelity = {BASELINE: _fidelity(float("inf")), recipe.name: _fidelity(LOW_SQNR_DB - 1)}
    measured = Measured(timed, {(BASELINE, 4): 0.1, (recipe.name, 4): 0.2}, fidelity, None, None, {})
    base, row = comparison_rows([recipe], prepared, measured, baseline_size=4 * 2**20)
    assert base["recipe"] == BASELINE and row["recipe"] == recipe.name
    assert row["speedup"] == pytest.approx(11.0 / 42.0) and base["speedup"] == pytest.approx(1.0)
    assert row["img_per_s"] == pytest.approx(1e3 * 4 / 42.0)
    assert (base["size_mb"], row["size_mb"], base["tensor_peak_mb"], row["tensor_peak_mb"]) == (4.0, 1.0, 3.0, None)
    assert row["flag"] == f"SLOWER than fp32; SQNR < {LOW_SQNR_DB:g} dB" and base["flag"] == ""
    assert (row["method"], row["runtime"], row["prepare_s"], row["first_call_s"]) == (
        "int8-dynamic",
        "pytorch",
        1.5,
        0.2,
    )
