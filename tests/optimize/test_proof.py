"""Proof of execution: count what really runs int8 after a real tiny-model prepare + compile (no mocks)."""

from __future__ import annotations

import pytest
import torch

from swinprof.optimize.prepare import prepare
from swinprof.optimize.proof import count_linears, count_quantized, execution_warnings
from swinprof.optimize.recipe import parse_recipe
from tests.optimize.tiny import inputs, tiny_model


def _pt2e(freezing: bool, backend: str = "inductor"):
    return parse_recipe({
        "meta": {"name": f"pt2e-freezing-{freezing}"},
        "quantize": {"method": "pt2e-int8-x86", "calibration": {"count": 4, "batch_size": 4}},
        "compile": {"backend": backend, "freezing": freezing},
    })  # fmt: skip


def _prepared(recipe, tmp_path):
    model = tiny_model()
    prepared = prepare(recipe, model, [inputs(4, seed=10)], tmp_path)
    with torch.inference_mode():
        prepared.fn(inputs(2))  # the first call compiles
    return model, prepared


def test_freezing_off_runs_fp32_and_warns(tmp_path):
    recipe = _pt2e(freezing=False)
    model, prepared = _prepared(recipe, tmp_path)
    count = count_quantized(recipe, prepared, model)
    assert (count.quantized, count.linears) == (0, count_linears(model))
    warnings = execution_warnings(recipe, prepared, count)
    assert any("0 of" in w and "freezing is off" in w for w in warnings)


@pytest.mark.slow  # a second inductor compile of the tiny model
def test_freezing_on_runs_every_quantized_linear_in_int8(tmp_path):
    recipe = _pt2e(freezing=True)
    model, prepared = _prepared(recipe, tmp_path)
    with torch.inference_mode():
        prepared.fn(inputs(3))  # a second batch size: a second graph, the same Linears (counted once, not twice)
    assert prepared.compiled.stats().signatures == 2
    count = count_quantized(recipe, prepared, model)
    linears = [n for n in prepared.quantized_layers if isinstance(model.get_submodule(n), torch.nn.Linear)]
    assert count.quantized == len(linears) > 0
    assert not any("0 of" in w for w in execution_warnings(recipe, prepared, count))


def test_torchao_weights_and_eager_pt2e_are_counted(tmp_path):
    recipe = parse_recipe({"quantize": {"method": "int8-dynamic"}})
    model, prepared = _prepared(recipe, tmp_path)
    count = count_quantized(recipe, prepared, model)
    assert count.quantized == len(prepared.quantized_layers) > 0 and count.kind == "int8"
    eager = _pt2e(freezing=False, backend="none")
    model, prepared = _prepared(eager, tmp_path)
    count = count_quantized(eager, prepared, model)
    assert count.quantized == 0
    assert any("fp32 simulation" in w for w in execution_warnings(eager, prepared, count))
