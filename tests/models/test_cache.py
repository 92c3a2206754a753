"""`geometry_cache`: real tensors memoised in eager mode; nothing fake cached, nothing cached read, while tracing."""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from swinprof.models.attention import _shared, fused, naive
from swinprof.models.cache import clear_geometry_caches, geometry_cache, is_tracing
from swinprof.models.windows import shift_mask

GEOMETRY = ((8, 12), (4, 4), (2, 2))

# Every geometry cache an attention implementation reads, called as the implementations call it.
BUILDERS = {
    "shift_mask": lambda: shift_mask(*GEOMETRY, "cpu"),
    "naive pad mask": lambda: naive._pad_mask_cached(*GEOMETRY, "cpu"),
    "window order": lambda: _shared.window_order(*GEOMETRY, "cpu"),
    "fused plan": lambda: fused._plan(*GEOMETRY, 2, "cpu"),
}


def _tensors(value) -> list[torch.Tensor]:
    items = value if isinstance(value, tuple) else (value,)
    return [t for t in items if isinstance(t, torch.Tensor)]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_a_fake_first_call_leaves_no_fake_tensor_for_eager_calls(name):
    clear_geometry_caches()  # a fresh process: the first call for this geometry happens while tracing
    with FakeTensorMode():
        traced = BUILDERS[name]()
    assert all(isinstance(t, FakeTensor) for t in _tensors(traced))
    real = BUILDERS[name]()
    assert not any(isinstance(t, FakeTensor) for t in _tensors(real)), name
    assert all(t is u for t, u in zip(_tensors(real), _tensors(BUILDERS[name]())))  # memoised in eager


def test_cached_values_are_normal_tensors_even_if_first_built_in_inference_mode():
    clear_geometry_caches()
    with torch.inference_mode():
        rows, inverse, _ = fused._plan(*GEOMETRY, 2, "cpu")
    assert not rows.is_inference() and not inverse.is_inference()  # autograd may save them later


def test_tracing_bypasses_the_cache():
    calls = []

    @geometry_cache()
    def build(n: int) -> torch.Tensor:
        calls.append(n)
        return torch.arange(n)

    build(3), build(3)
    assert calls == [3]
    with FakeTensorMode():
        build(3)
        build(3)
    assert calls == [3, 3, 3] and build.cache_info().currsize == 1
    assert not is_tracing(3) and not is_tracing((3, 4), "cpu")


def test_dynamo_sees_no_graph_break_in_a_cached_builder():
    """`is_tracing` checks `torch.compiler.is_compiling()` first, which dynamo folds; `detect_fake_mode()` would
    break the graph in every shifted block."""

    def masked(x: torch.Tensor) -> torch.Tensor:
        return x + shift_mask(*GEOMETRY, x.device)

    explained = torch._dynamo.explain(masked)(torch.zeros(6, 16, 16))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
