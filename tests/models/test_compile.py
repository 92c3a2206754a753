"""torch.compile sees the whole model as one graph: no graph break, no per-block recompile.

A graph break inside `SwinBlock.forward` made dynamo compile each block instance separately (guarding on each
block's parameters), hit its recompile limit (8) and run the remaining blocks eagerly.
"""

from __future__ import annotations

import pytest
import torch

from swinprof.models.attention import chunked_attention
from tests.conftest import tiny_model

# Every registered implementation that runs eagerly per chunk (flex compiles its own kernel per geometry:
# tests/models/test_export.py and the slow test below).
IMPLS = chunked_attention()
SMALL = dict(img_size=64, depths=(2, 2), num_heads=(1, 2))


def _images(batch: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _counting_backend(graphs: list):
    """A dynamo backend that runs the captured graph as is and records each compile (first or recompile)."""

    def backend(gm: torch.fx.GraphModule, example_inputs):
        graphs.append(gm)
        return gm.forward

    return backend


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["swin_t", "swinv2_t_w8"], ids=["v1", "v2"])
def test_one_graph_and_no_graph_break(impl, name):
    torch._dynamo.reset()
    model = tiny_model(name, **SMALL).set_attn_impl(impl)
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(_images(2, 0))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


@pytest.mark.parametrize("impl", IMPLS)
def test_fullgraph_compile_of_every_block_without_recompiles(impl):
    """Autograd on (the training path): one compile serves every block and a second call at the same shape."""
    torch._dynamo.reset()
    model = tiny_model("swin_t", **SMALL).set_attn_impl(impl)
    graphs: list = []
    compiled = torch.compile(model, fullgraph=True, backend=_counting_backend(graphs))
    for seed in (0, 1):
        x = _images(2, seed)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert len(graphs) == 1


@pytest.mark.slow
def test_inductor_compiles_the_fused_model_once():
    """Slow: an inductor compile takes minutes on 2 shared CPU cores."""
    torch._dynamo.reset()
    model = tiny_model("swinv2_t_w8", **SMALL).set_attn_impl("fused")
    graphs: list = []

    def counted_inductor(gm, example_inputs):
        graphs.append(gm)
        return torch._inductor.compile(gm, example_inputs)

    compiled = torch.compile(model, fullgraph=True, backend=counted_inductor)
    with torch.no_grad():
        for seed in (0, 1):
            x = _images(2, seed)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    assert len(graphs) == 1


@pytest.mark.slow
def test_flex_is_one_graph_under_no_grad():
    """flex on CPU runs only without autograd (no CPU backward); under no_grad it is one graph too."""
    torch._dynamo.reset()
    model = tiny_model("swin_t", **SMALL).set_attn_impl("flex")
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(_images(2, 0))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
