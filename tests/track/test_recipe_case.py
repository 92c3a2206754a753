"""A suite case may run a quantize recipe: its results carry fidelity beside latency, and regress reads it."""

from __future__ import annotations

import math

import pytest

from swinprof.errors import SuiteError
from swinprof.track.bench_rounds import run_suite
from swinprof.track.regress import compare_results
from swinprof.track.suite import parse_suite

SUITE = {
    "suite": {"name": "recipes", "threads": 1, "warmup": 1, "samples": 2, "metric": "cpu"},
    "cases": [{
        "name": "tiny", "model": "swin_t", "res": 64, "batch": 2, "recipe": ["fp32-eager", "int8-dynamic"],
        "config": {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2], "window_size": 4,
                   "num_classes": 10},
    }],
}  # fmt: skip


def test_recipe_case_results_carry_fidelity():
    results = run_suite(parse_suite(SUITE))
    fp32, int8 = results.cases
    assert "fidelity" not in fp32.spec and "__fidelity__" not in results.environment
    f = int8.spec["fidelity"]
    assert 5 < f["sqnr_db"] < math.inf and 0 <= f["top1_agreement"] <= 1 and len(int8.samples_ms) == 2
    same = compare_results(results, results, min_samples=2)
    assert [c.drop for c in same.accuracy] == [0.0, 0.0] and not same.accuracy_regressions


def test_unknown_recipe_names_the_presets():
    bad = {**SUITE, "cases": [{**SUITE["cases"][0], "recipe": "int9-magic"}]}
    with pytest.raises(SuiteError, match="or a preset recipe"):
        parse_suite(bad)
