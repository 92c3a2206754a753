"""Activation checkpointing and sequential attention: same loss and gradients as the plain model."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
import torch.nn.functional as F

from swinprof.errors import MemoryOptionError
from swinprof.models import create_model
from swinprof.models.sequential import chunk_bounds

TINY = dict(embed_dim=16, depths=(2, 2, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)


def tiny(name: str, img_size: int = 64):
    torch.manual_seed(0)
    return create_model(name, img_size=img_size, **TINY)


def loss_and_grads(model, x, y):
    """One forward/backward with a fixed RNG (DropPath is random in train mode)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


SETUPS = {
    "ckpt-stage-all": lambda m: m.set_grad_checkpointing(True, None, "stage"),
    "ckpt-block-2,3": lambda m: m.set_grad_checkpointing(True, (1, 2), "block"),
    "seq-3-chunks-all": lambda m: m.set_sequential_attention(3, None),
    "seq-more-chunks-than-windows": lambda m: m.set_sequential_attention(10_000, (0, 1)),
    "ckpt-block+seq": lambda m: m.set_grad_checkpointing(True, None, "block").set_sequential_attention(4, (0, 1)),
}


CASES = [("swinv2_t_w8", 64), ("swin_t", 64), ("swinv2_t_w8", 96)]  # 96: padded and clamped windows


@functools.cache
def plain_run(name: str, img_size: int):
    """Input, labels, loss and gradients of the plain model (computed once per case)."""
    model = tiny(name, img_size).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, img_size, img_size, generator=g)
    y = torch.randint(0, 10, (2,), generator=g)
    return x, y, *loss_and_grads(model, x, y)


# Every option on v2; the combined and the uneven-chunk options also on v1 and on padded/clamped windows.
MATRIX = [(*CASES[0], s) for s in SETUPS] + [(*c, s) for c in CASES[1:] for s in ("seq-3-chunks-all", "ckpt-block+seq")]


@pytest.mark.parametrize("name, img_size, setup", MATRIX)
def test_same_loss_and_gradients(name, img_size, setup):
    x, y, loss0, grads0 = plain_run(name, img_size)
    model = SETUPS[setup](tiny(name, img_size).train())
    loss1, grads1 = loss_and_grads(model, x, y)
    torch.testing.assert_close(loss1, loss0, rtol=1e-6, atol=1e-6)
    for n, g0 in grads0.items():
        # fp32, tight: chunked attention sums weight gradients over windows in another order, so compare each
        # gradient tensor by its relative error norm (summation-order noise is ~1e-7) plus a small elementwise bound.
        err = (grads1[n] - g0).norm() / g0.norm().clamp_min(1e-12)
        assert err < 1e-5, f"{n}: relative gradient error {err:.2e}"
        torch.testing.assert_close(grads1[n], g0, rtol=1e-4, atol=1e-5, msg=lambda m, n=n: f"{n}: {m}")


def test_options_are_set_and_cleared_per_stage():
    model = tiny("swinv2_t_w8")
    model.set_grad_checkpointing(True, (0, 2), "block").set_sequential_attention(4, (1,))
    assert model.memory_options() == {"checkpoint": ["block", None, "block", None], "attn_chunks": [1, 4, 1, 1]}
    model.set_grad_checkpointing(False).set_sequential_attention(1, None)
    assert model.memory_options() == {"checkpoint": [None] * 4, "attn_chunks": [1] * 4}


def test_eval_outputs_unchanged():
    model = tiny("swinv2_t_w8").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        model.set_grad_checkpointing(True).set_sequential_attention(5, None)
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.set_sequential_attention(0), "chunks >= 1"),
        (lambda m: m.set_sequential_attention(2.5), "chunks >= 1"),
        (lambda m: m.set_grad_checkpointing(True, (4,)), "stages 0..3"),
        (lambda m: m.set_grad_checkpointing(True, None, "layer"), "stage, block"),
    ],
)
def test_bad_options_are_clear_errors(call, match):
    with pytest.raises(MemoryOptionError, match=match):
        call(tiny("swinv2_t_w8"))


def test_chunk_bounds_cover_every_window_once():
    for total, chunks in [(64, 4), (10, 3), (3, 8), (7, 1)]:
        bounds = chunk_bounds(total, chunks)
        assert bounds[0][0] == 0 and bounds[-1][1] == total
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        sizes = [b - a for a, b in bounds]
        assert max(sizes) - min(sizes) <= 1 and len(bounds) == min(chunks, total)
