"""`flex`: FlexAttention with a `score_mod` adding the relative-position bias and a block mask for the shift.

Trades: a torch.compile of the attention kernel per window geometry (tens of seconds on a small CPU) and,
on CPU, forward only (torch's FlexAttention has no CPU backward), for a generated kernel that never
writes the score tensor and skips masked blocks. Cross-region pairs are masked to -inf where the
reference adds -100: equal to fp32 tolerance (exp(-100) terms), not bit-exact.
"""

from __future__ import annotations

import functools
import shutil

import torch

from swinprof.errors import DeviceUnavailableError
from swinprof.models.attention._shared import folded_bias_mask
from swinprof.models.attention.registry import register_attention, require_chunks
from swinprof.models.cache import geometry_cache, is_tracing
from swinprof.models.windows import Pair, attend_in_shifted_windows, region_ids, window_partition


def flex_unavailable(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why FlexAttention cannot run here, or None."""
    try:
        import torch.nn.attention.flex_attention
    except ImportError:
        return f"torch {torch.__version__} has no torch.nn.attention.flex_attention (needs torch>=2.5)"
    if device.type == "cpu" and not (shutil.which("g++") or shutil.which("clang++")):
        return "FlexAttention on CPU is compiled by inductor, which needs a C++ compiler (g++ or clang++)"
    if device.type not in ("cpu", "cuda"):
        return f"FlexAttention is not supported on {device.type}"
    return None


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    # Static shapes: one compile per window geometry. Dynamic shapes hit an inductor CPU codegen bug in
    # torch 2.13 (undeclared `cur_kvSplitSize2` in the generated C++).
    return torch.compile(flex_attention, dynamic=False)


@geometry_cache(maxsize=32)
def _region_block_mask(hw: Pair, window: Pair, shift: Pair, batch_windows: int, device: str):
    """Block mask letting a token see only tokens of its own region of the rolled window.

    Regular blocks get the same mask_mod with every token in region 0, so shifted and regular blocks of a
    stage share one compiled kernel (the mask_mod and captured-tensor shapes are part of the graph).
    """
    from torch.nn.attention.flex_attention import create_block_mask

    ids = region_ids(hw, window, shift, device) if any(shift) else torch.zeros(hw, dtype=torch.long, device=device)
    win_ids = window_partition(ids[None, :, :, None], window).squeeze(-1)  # (nW, N)
    num_windows, n = win_ids.shape

    def same_region(b, h, q_idx, kv_idx):
        w = b % num_windows  # batch index is image * nW + window
        return win_ids[w, q_idx] == win_ids[w, kv_idx]

    return create_block_mask(same_region, batch_windows, None, n, n, device=device)


def _run_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, score_mod, block_mask) -> torch.Tensor:
    """`flex_attention` on `(B*nW, heads, N, hd)` q/k/v: compiled for eager callers; while an outer
    torch.compile / torch.export traces, the plain op, which that tracer captures (and compiles) itself."""
    if is_tracing():
        from torch.nn.attention.flex_attention import flex_attention

        return flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask, scale=1.0)
    # Each stage (and batch size) is a new static geometry: allow more compiles than dynamo's default 8.
    with torch._dynamo.config.patch(recompile_limit=64, accumulated_recompile_limit=512):
        return _compiled_flex()(q, k, v, score_mod=score_mod, block_mask=block_mask, scale=1.0)


@register_attention("flex", check=flex_unavailable, chunks=False)
def flex_attention_impl(x, attn, window, shift, chunks=1):
    """`(B, H, W, C)` -> `(B, H, W, C)`; equal to `reference` up to exp(-100)-sized terms."""
    require_chunks("flex", chunks)
    _, h, w, c = x.shape
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in attn.parameters()))
    if x.device.type == "cpu" and needs_grad:
        raise DeviceUnavailableError(
            "FlexAttention has no backward on CPU: use attn_impl 'sdpa'/'fused', torch.no_grad(), or a CUDA device"
        )

    def attend(windows: torch.Tensor) -> torch.Tensor:  # (B*nW, N, C)
        bw, n, _ = windows.shape
        q, k, v = attn.qkv_heads(windows)
        q, k = attn.scaled_qk(q, k)  # scale folded into q (v1 and v2): a Python float would be a recompile guard
        q, k, v = torch.stack((q, k, v)).unbind(0)  # contiguous (B*nW, heads, N, hd) each
        bias = folded_bias_mask(attn, (h, w), window, (0, 0), q.dtype)[0]  # (heads, N, N)

        def add_bias(score, b, head, q_idx, kv_idx):
            return score + bias[head, q_idx, kv_idx]

        block_mask = _region_block_mask((h, w), tuple(window), tuple(shift), bw, str(x.device))
        out = _run_flex(q, k, v, add_bias, block_mask)
        return attn.proj_drop(attn.proj(out.transpose(1, 2).reshape(bw, n, c)))

    return attend_in_shifted_windows(x, window, shift, attend)
