"""`fused`: roll + partition and merge + reverse roll each done as one gather with a precomputed index.

Trades: two cached `(H*W,)` index tensors for the rolled copy, the partition copy and their inverses (the
idea of the official fused window-process CUDA kernel, in plain PyTorch); attention core as `sdpa`.
A Triton kernel for the gather is not included: no GPU was available to verify one.
"""

from __future__ import annotations

from swinprof.models.attention._shared import folded_bias_mask, sdpa_windows, window_order
from swinprof.models.attention.registry import register_attention


@register_attention("fused")
def fused_attention(x, attn, window, shift):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, c = x.shape
    order, inverse = window_order((h, w), window, shift, x.device)
    # Row gathers of whole C-vectors: memcpy-speed, unlike the strided copies of roll + permute.
    windows = x.reshape(batch, h * w, c).index_select(1, order).view(-1, window[0] * window[1], c)
    mask = folded_bias_mask(attn, (h, w), window, shift, x.dtype)
    out = sdpa_windows(windows, attn, mask, batch)  # (B*nW, N, C)
    return out.view(batch, h * w, c).index_select(1, inverse).view(batch, h, w, c)
