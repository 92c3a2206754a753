"""CompiledModel counts what dynamo did: graphs, graph breaks (with reasons), recompiles, the recompile limit.

Toy modules and the "eager" backend keep these fast: the counting is dynamo's, whatever the backend.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swinprof.optimize.compile import CompiledModel


class Clean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + 1) * 2


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 1
        torch._dynamo.graph_break()  # deliberately: two graphs per input shape
        return x * 2


class Knob(nn.Module):
    """Its forward reads a Python attribute that dynamo specialises on: changing it fails the guards."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()  # dynamo caches compiled code per code object: each test starts from nothing
    yield
    torch._dynamo.reset()


def test_clean_module_compiles_to_one_graph_per_shape():
    m = CompiledModel(Clean(), backend="eager")
    x = torch.randn(2, 3)
    assert torch.equal(m(x), Clean()(x))
    m(x)
    s = m.stats()
    assert (s.graphs, s.breaks, s.recompiles, s.signatures, s.recompile_limit_hits) == (1, 0, 0, 1, 0)
    assert s.summary == "1 / 0 / 0" and s.problems() == []
    m(torch.randn(4, 3))  # a new batch size compiles once, by design (static shapes): not a recompile
    assert (m.stats().graphs, m.stats().recompiles, m.stats().signatures) == (2, 0, 2)


def test_graph_break_is_counted_with_its_reason():
    m = CompiledModel(Broken(), backend="eager")
    x = torch.randn(2, 3)
    assert torch.equal(m(x), Broken()(x))
    m(x)  # cached: nothing new
    s = m.stats()
    assert (s.graphs, s.breaks, s.recompiles) == (2, 1, 0)
    assert list(s.break_reasons) == ["Call to `torch._dynamo.graph_break()`"]
    problems = s.problems()
    assert len(problems) == 1 and "1 graph breaks split it into 2 graphs" in problems[0]
    assert s.as_dict()["break_reasons"] == {"Call to `torch._dynamo.graph_break()`": 1}


def test_recompile_after_warmup_is_counted():
    knob = Knob()
    m = CompiledModel(knob, backend="eager")
    x = torch.randn(2, 3)
    m(x)
    knob.scale = 3.0  # same input shape, failed guard: dynamo recompiles
    assert torch.allclose(m(x), x * 3.0)
    s = m.stats()
    assert (s.graphs, s.recompiles, s.signatures) == (2, 1, 1)
    assert any("recompiled after their warm-up" in p for p in s.problems())


def test_recompile_limit_is_reported():
    m = CompiledModel(Clean(), backend="eager")
    with torch._dynamo.config.patch(recompile_limit=1):
        m(torch.randn(2, 3))
        out = m(torch.randn(3, 3))  # a second shape exceeds the limit: dynamo runs the frame eagerly
    assert out.shape == (3, 3)
    s = m.stats()
    assert s.recompile_limit_hits == 1 and s.graphs == 1
    assert any("recompile_limit" in p for p in s.problems())


def test_an_inference_tensor_input_does_not_recompile():
    m = CompiledModel(Clean(), backend="eager")
    m(torch.randn(2, 3))
    with torch.inference_mode():
        x = torch.randn(2, 3)  # an inference tensor: other dispatch keys than the first input's
    assert torch.equal(m(x), Clean()(x))
    assert (m.stats().graphs, m.stats().recompiles) == (1, 0)
