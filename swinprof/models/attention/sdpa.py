"""`sdpa`: roll and partition as the reference, attention by `F.scaled_dot_product_attention` (fused kernel).

Trades: one cached additive tensor (bias + -100 shift mask, `(nW, heads, N, N)`) and a contiguous q/k/v
copy for a fused scale-mask-softmax-matmul kernel that never writes the score tensor.
"""

from __future__ import annotations

from swinprof.models.attention._shared import folded_bias_mask, sdpa_windows
from swinprof.models.attention.registry import register_attention
from swinprof.models.windows import attend_in_shifted_windows


@register_attention("sdpa")
def sdpa_attention(x, attn, window, shift):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, _ = x.shape
    mask = folded_bias_mask(attn, (h, w), window, shift, x.dtype)
    return attend_in_shifted_windows(x, window, shift, lambda windows: sdpa_windows(windows, attn, mask, batch))
