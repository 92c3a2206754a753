"""torch.export of every attention implementation with a dynamic batch, with no warm-up call first.

The first call for each geometry happens inside the export (geometry caches cleared, fresh model): the exported
program must run at other batch sizes, and the eager model must afterwards compute on real tensors as before.
"""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensor

from swinprof.errors import DeviceUnavailableError
from swinprof.models import create_model
from swinprof.models.attention import available_attention, unavailable_reason
from swinprof.models.attention._shared import _CACHE_ATTR
from swinprof.models.cache import clear_geometry_caches
from tests.conftest import tiny_model

# Two stages (maps 16x16 and 8x8, window 4, shifted blocks in both): every code path, a quick export.
SMALL = dict(img_size=64, depths=(2, 2), num_heads=(1, 2))
BATCH = torch.export.Dim("batch", min=1, max=64)


def _small(impl: str, name: str = "swin_t") -> torch.nn.Module:
    return tiny_model(name, **SMALL).set_attn_impl(impl)


def _images(batch: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _export_fresh(impl: str, name: str = "swin_t") -> tuple[torch.nn.Module, torch.export.ExportedProgram]:
    """A fresh model exported as the first call of every geometry cache (what a new process does)."""
    clear_geometry_caches()
    model = _small(impl, name)
    program = torch.export.export(model, (_images(2, 0),), dynamic_shapes={"x": {0: BATCH}}, strict=False)
    return model, program


def _check_export(impl: str, name: str = "swin_t", tol: float = 1e-5) -> None:
    twin = _small(impl if impl != "flex" else "reference", name)  # flex is checked against the reference maths
    with torch.no_grad():
        before2, before3 = twin(_images(2, 0)), twin(_images(3, 1))
    model, program = _export_fresh(impl, name)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(_images(3, 1)), before3, rtol=tol, atol=tol)
        after = model(_images(2, 0))
    assert not isinstance(after, FakeTensor)
    torch.testing.assert_close(after, before2, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", ["reference", "naive", "sdpa", "fused"])
def test_export_with_dynamic_batch_and_no_warmup(impl):
    _check_export(impl)


def test_every_registered_impl_is_covered():
    assert set(available_attention()) == {"reference", "naive", "sdpa", "fused", "flex"}


def test_export_with_dynamic_batch_v2_fused():
    _check_export("fused", "swinv2_t_w8")


def test_naive_eager_after_a_plain_export_is_real():
    """The naive pad-mask cache used to keep the export's FakeTensor for every later eager call."""
    clear_geometry_caches()
    model = _small("naive")
    torch.export.export(model, (_images(2, 0),), strict=False)
    with torch.no_grad():
        out = model(_images(2, 0))
    assert not isinstance(out, FakeTensor) and torch.isfinite(out).all()


def test_export_under_no_grad_caches_no_fake_bias_mask():
    """Under no_grad sdpa/fused cache bias+mask on the module; an export must not leave a fake tensor there."""
    for impl in ("sdpa", "fused"):
        clear_geometry_caches()
        model = _small(impl)
        with torch.no_grad():
            torch.export.export(model, (_images(2, 0),), dynamic_shapes={"x": {0: BATCH}}, strict=False)
        cached = [v[1] for m in model.modules() for v in m.__dict__.get(_CACHE_ATTR, {}).values()]
        assert not any(isinstance(t, FakeTensor) for t in cached), impl


def test_fused_runs_on_the_meta_device():
    """`swinprof profile --attn fused` counts on a meta twin: the plan must not read tensor values."""
    clear_geometry_caches()
    model = create_model("swin_t", attn_impl="fused", device="meta", img_size=64, depths=(2, 2), num_heads=(1, 2))
    with torch.no_grad():
        out = model(torch.empty(3, 3, 64, 64, device="meta"))
    assert out.device.type == "meta" and out.shape == (3, 1000)


def test_fused_compiles_with_a_dynamic_batch():
    """Its plan was an lru_cache keyed on the batch (unhashable SymInt) built with data-dependent ops."""
    torch._dynamo.reset()
    model = _small("fused")
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        for batch in (2, 3):
            x = _images(batch, batch)
            torch._dynamo.mark_dynamic(x, 0)
            torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.skipif(unavailable_reason("flex", "cpu", torch.float32) is not None, reason="flex cannot run here")
def test_flex_export_with_autograd_on_cpu_is_a_clear_error():
    """FlexAttention has no CPU backward; an export traced with autograd on records a trainable graph."""
    clear_geometry_caches()
    with pytest.raises(DeviceUnavailableError, match="no backward on CPU"):
        torch.export.export(_small("flex"), (_images(2, 0),), dynamic_shapes={"x": {0: BATCH}}, strict=False)


@pytest.mark.slow
@pytest.mark.skipif(unavailable_reason("flex", "cpu", torch.float32) is not None, reason="flex cannot run here")
def test_flex_export_under_no_grad_with_dynamic_batch():
    """Slow: eager flex compiles its kernel per stage geometry (minutes on 2 CPU cores)."""
    with torch.no_grad():
        _check_export("flex", tol=1e-4)
