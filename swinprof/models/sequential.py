"""Sequential window attention (Swin v2, section 3.4): attend over the windows in chunks.

The batched method materialises the `(B*nW, heads, N, N)` score tensor of every window at once; at high
resolution that tensor dominates the memory of the first stages. `attend_in_chunks` splits the windows
into `chunks` contiguous groups and attends one group after another, so only one group's
`(chunk, heads, N, N)` scores are alive at a time. In training each group runs under non-reentrant
activation checkpointing: its scores are not kept for backward but recomputed group by group there, so the
bound holds in backward too (the cost is one extra attention forward for the chosen stages).

Every implementation that partitions windows routes its per-window attention through `attend_in_chunks`
(with `chunks=1` it is one direct call), so a chunked block computes its own implementation's maths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

# attend(windows (g, N, C), start, stop) -> (g, N, C): attention for windows [start, stop) of the batch.
WindowRangeFn = Callable[[torch.Tensor, int, int], torch.Tensor]


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


def attend_in_chunks(windows: torch.Tensor, chunks: int, attend: WindowRangeFn) -> torch.Tensor:
    """`(B*nW, N, C)` -> `(B*nW, N, C)`: `attend` on the whole batch (`chunks <= 1`) or chunk by chunk.

    Each chunk is recomputed in backward (non-reentrant checkpoint) whenever autograd records, so the score
    tensors of only one chunk are ever alive.
    """
    total = windows.shape[0]
    if chunks <= 1:
        return attend(windows, 0, total)
    recompute = torch.is_grad_enabled()
    outs = []
    for start, stop in chunk_bounds(total, chunks):
        group = windows[start:stop]
        if recompute:
            outs.append(checkpoint(attend, group, start, stop, use_reentrant=False))
        else:
            outs.append(attend(group, start, stop))
    return torch.cat(outs, dim=0)


def window_rows(per_window: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows of a per-window tensor `(nW, ...)` for windows `[start, stop)` of an image-major `(B*nW)` batch.

    A size-1 first dimension (shared by every window) is returned as is.
    """
    num_windows = per_window.shape[0]
    if num_windows == 1:
        return per_window
    first = start % num_windows
    if first + (stop - start) <= num_windows:  # inside one image: a view, no copy
        return per_window[first : first + stop - start]
    idx = torch.arange(start, stop, device=per_window.device) % num_windows
    return per_window.index_select(0, idx)
