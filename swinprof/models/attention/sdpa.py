"""`sdpa`: roll and partition as the reference, attention by `F.scaled_dot_product_attention` (fused kernel).

Trades: one cached additive tensor (bias + -100 shift mask, `(nW, heads, N, N)`) and a contiguous q/k/v
copy for a fused scale-mask-softmax-matmul kernel that never writes the score tensor.
"""

from __future__ import annotations

import torch

from swinprof.models.attention._shared import folded_bias_mask, sdpa_windows
from swinprof.models.attention.registry import register_attention
from swinprof.models.windows import window_partition, window_reverse


@register_attention("sdpa")
def sdpa_attention(x, attn, window, shift):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, _ = x.shape
    shifted = any(shift)
    if shifted:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    mask = folded_bias_mask(attn, (h, w), window, shift, x.dtype)
    out = sdpa_windows(window_partition(x, window), attn, mask, batch)
    out = window_reverse(out, window, (h, w))
    if shifted:
        out = torch.roll(out, shifts=shift, dims=(1, 2))
    return out
