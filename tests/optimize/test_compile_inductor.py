"""compile-inductor on CPU: the whole tiny model compiles to one graph with frozen, prepacked weights, for the
`reference` and the `fused` attention, and its logits match eager.

One inductor compile per implementation (the slow part on 2 shared cores; `reference` is in the slow set), on a
five-block model that still has shifted windows with masks (stages 1-2) and patch merging.
"""

from __future__ import annotations

import pytest
import torch

from swinprof.optimize.prepare import prepare
from swinprof.optimize.presets import get_recipe
from tests.optimize.tiny import inputs, tiny_model


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize(
    "name, impl",
    [pytest.param("compile-inductor", "reference", marks=pytest.mark.slow), ("compile-inductor-fused", "fused")],
)
def test_one_frozen_graph_with_prepacked_linears_matches_eager(name, impl, tmp_path):
    recipe = get_recipe(name)
    assert (recipe.model.attn_impl, recipe.compile.freezing) == (impl, True)
    model = tiny_model(depths=(2, 1, 1, 1), attn_impl=impl)
    prepared = prepare(recipe, model, [], tmp_path)
    x = inputs(2, seed=3)
    out = prepared.fn(x)
    with torch.inference_mode():
        assert torch.allclose(out, model(x), rtol=1e-4, atol=1e-4)
        prepared.fn(x)  # a second call with the same input signature: cached, no recompile
        prepared.fn(inputs(2, seed=4))
    stats = prepared.compiled.stats()
    assert (stats.graphs, stats.breaks, stats.recompiles, stats.recompile_limit_hits) == (1, 0, 0, 0), stats
    # Freezing made the weights constants, so inductor replaced every Linear by a prepacked MKL/oneDNN linear.
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert stats.prepacked_linears == linears, stats
