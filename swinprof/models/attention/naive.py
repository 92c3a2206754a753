"""`naive`: the paper's naive shifted windows: pad the map so the shifted partition has whole windows.

Trades: (H/M+1)(W/M+1) windows instead of (H/M)(W/M) (e.g. 81 vs 64 at 56x56, window 7: +27% attention
work) and a padded copy of the map, for no cyclic roll and no cross-region mask.

A shifted partition cuts each axis at `s, s+M, ..., H-M+s`, leaving border pieces of `s` and `M-s` rows.
Padding `M-s` rows before and `s` after (same for columns) makes every piece a whole `M x M` window; the
padded tokens are excluded as keys (additive -inf) and cropped as queries. Each piece is exactly a
region of the reference's rolled window, so tokens see the same neighbours with the same relative
offsets. The reference masks other regions with -100, not -inf, so the two agree up to terms of
order exp(-100) relative to the softmax denominator: equal to fp32 tolerance, not bit-exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from swinprof.models.attention.reference import attend_windows_chunked
from swinprof.models.attention.registry import register_attention
from swinprof.models.cache import geometry_cache
from swinprof.models.windows import Pair, window_partition, window_reverse


@geometry_cache()
def _pad_mask_cached(hw: Pair, window: Pair, shift: Pair, device: str) -> torch.Tensor:
    real = torch.ones(1, hw[0], hw[1], 1, device=device)
    real = F.pad(real, _padding(window, shift))
    keys = window_partition(real, window).squeeze(-1)  # (nW', N): 1 for real tokens, 0 for padding
    mask = torch.zeros_like(keys).masked_fill(keys == 0, float("-inf"))
    return mask[:, None, :].expand(-1, keys.shape[1], -1).contiguous()  # (nW', N, N), per key


def _padding(window: Pair, shift: Pair) -> tuple[int, int, int, int, int, int]:
    """`F.pad` widths for `(B, H, W, C)`: `M-s` before and `s` after on both spatial axes."""
    return (0, 0, window[1] - shift[1], shift[1], window[0] - shift[0], shift[0])


@register_attention("naive")
def naive_attention(x, attn, window, shift, chunks=1):
    """`(B, H, W, C)` -> `(B, H, W, C)`; equal to `reference` up to exp(-100)-sized terms."""
    batch, h, w, _ = x.shape
    if not any(shift):
        out = attend_windows_chunked(window_partition(x, window), attn, None, batch, chunks)
        return window_reverse(out, window, (h, w))
    padded = F.pad(x, _padding(window, shift))
    ph, pw = padded.shape[1:3]
    mask = _pad_mask_cached((h, w), tuple(window), tuple(shift), str(x.device))
    out = attend_windows_chunked(window_partition(padded, window), attn, mask, batch, chunks)
    out = window_reverse(out, window, (ph, pw))
    top, left = window[0] - shift[0], window[1] - shift[1]
    return out[:, top : top + h, left : left + w]
