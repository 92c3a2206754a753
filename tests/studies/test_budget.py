"""Accuracy budgets: recipe validation, the search meets its budget on held-out inputs, `run` writes the skip list."""

from __future__ import annotations

import math

import pytest

from swinprof.errors import SwinprofError
from swinprof.optimize.recipe import BudgetSection, load_recipe, parse_recipe
from swinprof.studies.recipe_record import run_files, run_report
from swinprof.studies.recipe_run import RunOptions, plan_run, run_plan
from swinprof.studies.sensitivity import Probe, meets, reference_score, score, search_budget
from tests.optimize.tiny import inputs, tiny_model


@pytest.mark.parametrize(
    "budget, message",
    [
        ({"metric": "psnr", "min": 30}, "choose one of: none, sqnr"),
        ({"metric": "sqnr", "min": 900}, "out of range"),
        ({"metric": "sqnr", "max_drop": 1}, "use min"),
        ({"metric": "top1-agreement", "min": 0.9, "max_drop": 0.1}, "exactly one of"),
        ({"metric": "accuracy", "max_drop": 250}, "out of range"),
        ({"min": 30}, "no metric"),
        ({"metric": "sqnr", "floor": 30}, "unknown key 'floor'"),
    ],
)
def test_budget_table_is_validated(budget, message):
    data = {"quantize": {"method": "pt2e-int8-x86", "budget": budget}}
    with pytest.raises(SwinprofError, match=message) as info:
        parse_recipe(data, source="b.toml")
    assert "\n" not in str(info.value)


def test_search_meets_the_budget_on_heldout_inputs(pt2e_board):
    model, _, _, board = pt2e_board
    search, heldout = Probe.of(model, inputs(2, seed=20)), Probe.of(model, inputs(2, seed=21))
    everything = score(board, board.layers, heldout)["sqnr_db"]
    budget = BudgetSection(metric="sqnr", min=everything + 6)  # unreachable with every layer quantized
    result = search_budget(board, search, heldout, budget)
    assert result.skipped and result.quantized  # some layers fit, some had to stay fp32
    assert meets(result.heldout_score, budget, reference_score(heldout))
    assert set(result.quantized) | set(result.skipped) == set(board.layers)


@pytest.mark.slow  # a full recipe run (PT2E prepared twice: the search's switchboard, then the recipe)
def test_budgeted_run_writes_the_chosen_skip_list(tmp_path):
    recipe = parse_recipe({
        "meta": {"name": "budgeted"}, "model": {"name": "swin_t"},
        "quantize": {"method": "pt2e-int8-x86", "calibration": {"count": 4, "batch_size": 4},
                     "budget": {"metric": "sqnr", "min": 45, "samples": 2}},
        "benchmark": {"batch_sizes": [2], "warmup": 0, "iters": 1},
        "evaluate": {"fidelity_samples": 2, "batch_size": 2},
    })  # fmt: skip
    opts = RunOptions(process_memory=False)
    model = tiny_model()
    result = run_plan(plan_run([recipe], opts), tmp_path / "work", model=model)
    search = result.budgets["budgeted"]
    ran = result.recipes[0]
    assert ran.quantize.budget.metric == "none"
    assert set(search.skipped) <= set(ran.quantize.skip) and search.skipped
    assert search.heldout_score["sqnr_db"] >= 45
    assert result.prepared["budgeted"].quantized_layers == search.quantized  # what ran is what was chosen
    report = run_report(result, {})
    assert "budget" in [t.key for t in report.tables]
    resolved = tmp_path / "budgeted.resolved.toml"
    resolved.write_bytes(run_files(result, {})["budgeted.resolved.toml"])
    assert load_recipe(resolved) == ran  # re-runs the same quantized set, without a search
    assert math.isfinite(result.fidelity["budgeted"].sqnr_db)
