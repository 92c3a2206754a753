"""`sdpa`: roll and partition as the reference, attention by `F.scaled_dot_product_attention` (fused kernel).

Trades: one cached additive tensor (bias + -100 shift mask, `(nW, heads, N, N)`) and a contiguous q/k/v
copy for a fused scale-mask-softmax-matmul kernel that never writes the score tensor.
"""

from __future__ import annotations

import torch

from swinprof.models.attention._shared import folded_bias_mask, sdpa_windows
from swinprof.models.attention.registry import register_attention
from swinprof.models.sequential import attend_in_chunks, window_rows
from swinprof.models.windows import attend_in_shifted_windows


@register_attention("sdpa")
def sdpa_attention(x, attn, window, shift, chunks=1):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, _ = x.shape
    mask = folded_bias_mask(attn, (h, w), window, shift, x.dtype)  # (nW or 1, heads, N, N)

    def attend_range(windows: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if chunks <= 1:
            return sdpa_windows(windows, attn, mask, batch)
        return sdpa_windows(windows, attn, window_rows(mask, start, stop), 1)  # a chunk: its own masks

    return attend_in_shifted_windows(x, window, shift, lambda windows: attend_in_chunks(windows, chunks, attend_range))
