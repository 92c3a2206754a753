"""Sequential attention runs the block's own implementation chunk by chunk: same outputs and gradients as the
unchunked implementation, and an implementation that cannot chunk (flex) is refused, never replaced."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from swinprof.errors import MemoryOptionError
from swinprof.models.attention import chunked_attention, reference
from swinprof.models.blocks import SwinBlock
from tests.conftest import tiny_model

IMPLS = chunked_attention()  # every implementation registered as able to attend in chunks
SMALL = dict(img_size=64, depths=(2, 2), num_heads=(1, 2))


def test_every_implementation_but_flex_chunks():
    assert chunked_attention() == ["reference", "fused", "naive", "sdpa"]


def _block(version: int, shift: int) -> SwinBlock:
    torch.manual_seed(0)
    block = SwinBlock(dim=16, num_heads=2, window=(4, 4), shift=(shift, shift), version=version)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return block


def _output_and_grads(module, fn, x: torch.Tensor, grad_out: torch.Tensor):
    """Output and the gradients of every parameter and of the input, for `(fn(x) * grad_out).sum()`."""
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = fn(x)
    (out * grad_out).sum().backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    return out.detach(), {"input": x.grad.clone(), **grads}


def _assert_same(a, b, what: str) -> None:
    out_a, grads_a = a
    out_b, grads_b = b
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=1e-6, msg=lambda m: f"{what} output: {m}")
    assert grads_a.keys() == grads_b.keys(), what
    for name, g in grads_b.items():
        # Chunks sum weight gradients over windows in another order: compare by relative error norm.
        err = (grads_a[name] - g).norm() / g.norm().clamp_min(1e-12)
        assert err < 1e-5, f"{what}: gradient of {name} differs (relative error {err:.1e})"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("shifted", [True, False], ids=["shifted", "regular"])
@pytest.mark.parametrize("hw", [(8, 8), (10, 14)], ids=["square", "padded"])
@pytest.mark.parametrize("batch", [2, 1], ids=["b2", "b1"])  # fused: batch 1 has per-window mask rows
def test_chunked_block_equals_the_batched_block(impl, version, shifted, hw, batch):
    block = _block(version, 2 if shifted else 0)
    block.attn_impl = impl
    g = torch.Generator().manual_seed(1)
    x, grad_out = torch.randn(batch, *hw, 16, generator=g), torch.randn(batch, *hw, 16, generator=g)
    batched = _output_and_grads(block, block.window_attention, x, grad_out)
    block.attn_chunks = 3  # 3 does not divide the 2 x 4 (or 2 x 12) windows: uneven chunks across images
    _assert_same(_output_and_grads(block, block.window_attention, x, grad_out), batched, f"{impl} v{version}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["swin_t", "swinv2_t_w8"], ids=["v1", "v2"])
def test_chunked_model_equals_the_batched_model(impl, name):
    model = tiny_model(name, **SMALL).set_attn_impl(impl)
    g = torch.Generator().manual_seed(2)
    x, grad_out = torch.randn(2, 3, 64, 64, generator=g), torch.randn(2, 10, generator=g)
    batched = _output_and_grads(model, model, x, grad_out)
    model.set_sequential_attention(3, stages=None)
    _assert_same(_output_and_grads(model, model, x, grad_out), batched, f"{impl} {name}")


# Shifted 8x8 map, window 4, batch 2: 8 windows (naive pads to 3 x 3 windows per image: 18). fused groups them
# by mask pattern (4 groups of 2), so its 3 chunks [0, 3), [3, 6), [6, 8) hold 2 + 2 + 1 single-mask pieces.
EXPECTED_CALLS = {"reference": (8, 0), "naive": (18, 0), "sdpa": (0, 3), "fused": (0, 5)}


@pytest.mark.parametrize("impl", IMPLS)
def test_chunks_run_the_blocks_own_implementation(impl, monkeypatch):
    """(windows through the reference maths, SDPA calls): sequential sdpa/fused used to run the reference."""
    windows, sdpa_calls = [], []
    attend_windows, sdpa = reference.attend_windows, F.scaled_dot_product_attention

    def spy_attend(w, *args, **kwargs):
        windows.append(w.shape[0])
        return attend_windows(w, *args, **kwargs)

    def spy_sdpa(q, *args, **kwargs):
        sdpa_calls.append(q.shape)
        return sdpa(q, *args, **kwargs)

    monkeypatch.setattr(reference, "attend_windows", spy_attend)
    monkeypatch.setattr(F, "scaled_dot_product_attention", spy_sdpa)
    block = _block(1, 2)
    block.attn_impl, block.attn_chunks = impl, 3
    with torch.no_grad():
        block.window_attention(torch.randn(2, 8, 8, 16))
    assert (sum(windows), len(sdpa_calls)) == EXPECTED_CALLS[impl]


def test_flex_refuses_sequential_attention_by_name():
    model = tiny_model("swin_t", **SMALL).set_attn_impl("flex")
    with pytest.raises(MemoryOptionError, match=r"'flex' cannot attend in chunks.*reference, fused, naive, sdpa"):
        model.set_sequential_attention(4)
    assert model.memory_options()["attn_chunks"] == [1, 1]  # nothing half-applied
    model.set_attn_impl("sdpa").set_sequential_attention(4)
    with pytest.raises(MemoryOptionError, match="cannot attend in chunks"):
        model.set_attn_impl("flex")
    assert model.attn_impl == "sdpa"


def test_a_flex_block_with_chunks_fails_at_call_time():
    block = _block(1, 2)
    block.attn_impl, block.attn_chunks = "flex", 2  # set behind the model's back
    with torch.no_grad(), pytest.raises(MemoryOptionError, match="cannot attend in chunks"):
        block.window_attention(torch.randn(1, 8, 8, 16))
