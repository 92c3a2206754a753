"""Sequential window attention (Swin v2, section 3.4): attend over the windows in chunks.

The batched method materialises the `(B*nW, heads, N, N)` score tensor of every window at once; at high
resolution that tensor dominates the memory of the first stages. Here the windows are split into `chunks`
contiguous groups and attended one group after another, so only one group's `(chunk, heads, N, N)` scores
are alive at a time. In training each group runs under non-reentrant activation checkpointing: its scores
are not kept for backward but recomputed group by group there, so the bound holds in backward too (the cost
is one extra attention forward for the chosen stages). The math is the reference roll + mask method, so
results equal the `reference` implementation.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from swinprof.models.attention.reference import attend_windows
from swinprof.models.windows import Pair, attend_in_shifted_windows, shift_mask


def chunk_bounds(total: int, chunks: int) -> list[tuple[int, int]]:
    """`[start, stop)` ranges splitting `total` windows into at most `chunks` groups of near-equal size."""
    chunks = max(1, min(chunks, total))
    base, extra = divmod(total, chunks)
    bounds, start = [], 0
    for i in range(chunks):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _attend_group(windows: torch.Tensor, attn, mask: torch.Tensor | None) -> torch.Tensor:
    # batch=1 with a per-window mask `(g, N, N)`: attend_windows adds mask[w] to window w of the group.
    return attend_windows(windows, attn, mask, 1)


def sequential_attention(x: torch.Tensor, attn, window: Pair, shift: Pair, chunks: int) -> torch.Tensor:
    """`(B, H, W, C)` padded map -> `(B, H, W, C)`, attending `chunks` groups of windows one at a time."""
    batch, h, w, _ = x.shape
    mask = shift_mask((h, w), window, shift, x.device) if any(shift) else None

    def attend(windows: torch.Tensor) -> torch.Tensor:  # (B*nW, N, C), image-major
        total = windows.shape[0]
        num_windows = total // batch
        recompute = torch.is_grad_enabled()
        outs = []
        for start, stop in chunk_bounds(total, chunks):
            group_mask = None
            if mask is not None:
                idx = torch.arange(start, stop, device=mask.device) % num_windows
                group_mask = mask.index_select(0, idx)
            group = windows[start:stop]
            if recompute:
                outs.append(checkpoint(_attend_group, group, attn, group_mask, use_reentrant=False))
            else:
                outs.append(_attend_group(group, attn, group_mask))
        return torch.cat(outs, dim=0)

    return attend_in_shifted_windows(x, window, shift, attend)
