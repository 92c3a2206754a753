"""`reference`: the paper's shifted-window attention, exactly as described.

Trades: materialises a rolled copy of the feature map and a (B*nW, heads, N, N) score tensor; simple and
the baseline every other implementation is tested against.
"""

from __future__ import annotations

import torch

from swinprof.models.attention.registry import register_attention
from swinprof.models.sequential import attend_in_chunks, window_rows
from swinprof.models.windows import attend_in_shifted_windows, shift_mask


def attend_windows(
    windows: torch.Tensor, attn, mask: torch.Tensor | None, batch: int, rows_of_mask: bool = False
) -> torch.Tensor:
    """Attention inside each window. `windows` `(B*nW, N, C)`, `mask` `(nW, N, N)` -> `(B*nW, N, C)`.

    `rows_of_mask`: `mask` is `(g, N, N)`, one row per window of a chunk of `g` windows (sequential attention).
    """
    bw, n, c = windows.shape
    q, k, v = attn.qkv_heads(windows)  # (B*nW, heads, N, hd)
    q, k = attn.scaled_qk(q, k)
    scores = q @ k.transpose(-2, -1)
    bias = attn.position_bias()  # (heads, N, N)
    if mask is None:
        scores = scores + bias.unsqueeze(0)
    elif rows_of_mask:
        # A chunk of windows with one mask row each: a bias+mask sum would be as large as the chunk's scores,
        # so add them in two steps instead and keep at most two score-sized tensors alive.
        scores = scores + bias.unsqueeze(0)
        scores = scores + mask.unsqueeze(1).to(scores.dtype)
    else:
        # Bias and shift mask summed once on the small (nW, heads, N, N) tensor: one pass over the scores.
        nw = mask.shape[0]
        bias = bias.unsqueeze(0) + mask.unsqueeze(1).to(bias.dtype)
        scores = scores.view(batch, nw, attn.num_heads, n, n) + bias.unsqueeze(0)
        scores = scores.view(bw, attn.num_heads, n, n)
    probs = attn.attn_drop(scores.softmax(dim=-1))
    out = (probs @ v).transpose(1, 2).reshape(bw, n, c)
    return attn.proj_drop(attn.proj(out))


def attend_windows_chunked(
    windows: torch.Tensor, attn, mask: torch.Tensor | None, batch: int, chunks: int = 1
) -> torch.Tensor:
    """`attend_windows` over `chunks` groups of windows, one after another (`chunks=1`: batched)."""

    def attend_range(part: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if chunks <= 1 or mask is None:
            return attend_windows(part, attn, mask, batch)
        # One chunk: batch=1 with the chunk's own `(g, N, N)` masks, mask[i] added to window i of the chunk.
        return attend_windows(part, attn, window_rows(mask, start, stop), 1, rows_of_mask=True)

    return attend_in_chunks(windows, chunks, attend_range)


@register_attention("reference")
def reference_attention(x, attn, window, shift, chunks=1):
    batch, h, w, _ = x.shape
    mask = shift_mask((h, w), window, shift, x.device) if any(shift) else None
    return attend_in_shifted_windows(
        x, window, shift, lambda windows: attend_windows_chunked(windows, attn, mask, batch, chunks)
    )
