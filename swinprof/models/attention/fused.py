"""`fused`: roll + partition and merge + reverse roll each done as one row gather with a precomputed index.

Trades: cached `(B*H*W,)` index tensors (per batch size and geometry) for the rolled copy, the partition
copy and their inverses (the idea of the official fused window-process CUDA kernel, in plain PyTorch),
plus a window order that groups windows by shift-mask pattern so SDPA runs on strided q/k/v views with
a broadcast `(1, heads, N, N)` mask: no q/k/v copy, no score tensor. Not included: a Triton kernel for
the gather (no GPU was available to verify one).

A shifted map has at most four mask patterns: interior windows (bias only), the last window row, the
last window column and the corner. Ordering the gathered windows group by group, image by image,
makes each group one contiguous slice of the batch dimension. The groups follow from the geometry ints
alone (Python), and the indices are built from them with shape-generic ops, so the plan traces with a
symbolic batch (torch.export, dynamo) and runs on the meta device.

At batch 1 (a concrete 1, not a symbolic batch) a shifted block keeps the reference's window order and
runs one SDPA call with the per-window `(nW, heads, N, N)` mask: its batch dimension is already q's, so
nothing is broadcast, and the grouping would only split the work into four small calls (the corner group is
one window) whose outputs are then concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from swinprof.models.attention._shared import folded_bias_mask, scaled_qk_for_sdpa, sdpa, window_order
from swinprof.models.attention.registry import register_attention
from swinprof.models.cache import geometry_cache
from swinprof.models.sequential import attend_in_chunks
from swinprof.models.windows import Pair

Rect = tuple[int, int, int, int]  # window rows [r0, r1) x window columns [c0, c1)
# (mask row, first window, end window): a slice of windows sharing one mask; mask row None: each window has
# its own mask row (the batch-1 plan, windows in the reference's order).
Segment = tuple[int | None, int, int]


def _axis_parts(num: int, window: int, shift: int) -> list[tuple[int, int]]:
    """Ranges of window rows (or columns) sharing one mask pattern along this axis.

    Only the last window row straddles the cut of the cyclic shift (regions `M-s` and `s` tokens wide),
    so it differs from the others when `0 < s < M`.
    """
    if not 0 <= shift <= window:
        raise ValueError(f"fused attention needs 0 <= shift <= window, got shift {shift} for window {window}")
    if 0 < shift < window and num > 1:
        return [(0, num - 1), (num - 1, num)]
    return [(0, num)]


def window_groups(hw: Pair, window: Pair, shift: Pair) -> list[Rect]:
    """Rectangles of the window grid whose windows share one shift-mask pattern: interior first, then the
    last row, the last column and the corner (one rectangle, the whole grid, for a regular block)."""
    grid = (hw[0] // window[0], hw[1] // window[1])
    rows = _axis_parts(grid[0], window[0], shift[0])
    cols = _axis_parts(grid[1], window[1], shift[1])
    return [(r0, r1, c0, c1) for r0, r1 in rows for c0, c1 in cols]


@geometry_cache()
def _token_layout(hw: Pair, window: Pair, shift: Pair, device: str) -> tuple[torch.Tensor, ...]:
    """Per-image tensors, each `(H*W,)` long: `(order, start, size, local)`.

    `order`: the row-major token index at each position of the grouped window order (group by group, each
    group's windows row-major, tokens in the reference's window order). For each token `t` of the image:
    its group begins at position `start[t]`, holds `size[t]` tokens, and `t` sits at `local[t]` inside it.
    """
    grid, n = (hw[0] // window[0], hw[1] // window[1]), window[0] * window[1]
    by_window = window_order(hw, window, shift, device)[0].view(grid[0], grid[1], n)
    parts = [by_window[r0:r1, c0:c1].reshape(-1) for r0, r1, c0, c1 in window_groups(hw, window, shift)]
    order = torch.cat(parts)
    starts, sizes, first = [], [], 0
    for part in parts:
        count = part.shape[0]
        starts.append(torch.full((count,), first, dtype=torch.long, device=device))
        sizes.append(torch.full((count,), count, dtype=torch.long, device=device))
        first += count
    position = torch.argsort(order)  # the inverse permutation (argsort exports where scatter_ into empty does not)
    start = torch.cat(starts)[position]
    return order, start, torch.cat(sizes)[position], position - start


@geometry_cache()
def _plan(
    hw: Pair, window: Pair, shift: Pair, batch: int, device: str
) -> tuple[torch.Tensor, torch.Tensor, tuple[Segment, ...]]:
    """`(rows, inverse, segments)` for a batch of `batch` images.

    `rows`, `inverse` `(B*H*W,)`: `x.flatten(0, 2)[rows]` is every image's windows in grouped order, group by
    group and image by image within a group; `y[inverse]` puts them back in `(B, H, W)` order. `segments`:
    `(mask row, first, end)` per group, the slice of the gathered windows it fills and the window whose mask
    it shares. Only shape-generic ops touch `batch`, so it may be symbolic.
    """
    groups = window_groups(hw, window, shift)
    if isinstance(batch, int) and batch == 1 and len(groups) > 1:
        order, inverse = window_order(hw, window, shift, device)
        return order, inverse, ((None, 0, order.shape[0] // (window[0] * window[1])),)
    order, start, size, local = _token_layout(hw, window, shift, device)
    n = window[0] * window[1]
    image = torch.arange(batch, device=device)[:, None]  # (B, 1)
    counts = [(r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in groups]  # windows per image
    rows = torch.cat([(image * hw[0] * hw[1] + part[None]).flatten() for part in order.split([k * n for k in counts])])
    # A group of `size` tokens per image starts at row `batch * start`; image b's copy `b * size` rows later.
    inverse = ((start * batch + local)[None] + image * size[None]).flatten()
    segments, first = [], 0
    for (r0, _, c0, _), count in zip(groups, counts):
        segments.append((r0 * (hw[1] // window[1]) + c0, first, first + batch * count))
        first += batch * count
    return rows, inverse, tuple(segments)


def _attend_segments(
    windows: torch.Tensor, attn, masks: torch.Tensor, segments: Sequence[Segment], offset: int = 0
) -> torch.Tensor:
    """`(g, N, C)` windows -> `(g, N, C)`. `segments`: `(mask row, begin, end)` slices of `windows` sharing
    one mask pattern; each runs SDPA on strided q/k/v views with a broadcast `(1, heads, N, N)` mask. A mask
    row of None gives each window its own row of `masks`, rows `offset + begin` on (`offset`: where this
    chunk of windows starts)."""
    g, n, c = windows.shape
    q, k, v = attn.qkv_heads(windows)  # strided views (g, heads, N, hd)
    q, k, scale = scaled_qk_for_sdpa(attn, q, k)
    outs = []
    for rep, begin, end in segments:
        part = slice(begin, end)
        mask = masks[offset + begin : offset + end] if rep is None else masks[rep : rep + 1]
        outs.append(sdpa(q[part], k[part], v[part], attn, mask, scale).transpose(1, 2))
    out = torch.cat(outs) if len(outs) > 1 else outs[0]  # (g, N, heads, hd)
    return attn.proj_drop(attn.proj(out.reshape(g, n, c)))


def _clip(segments: Sequence[Segment], start: int, stop: int) -> list[Segment]:
    """The parts of `segments` inside windows `[start, stop)`, relative to `start` (one chunk's slices)."""
    clipped = [(rep, max(b, start) - start, min(e, stop) - start) for rep, b, e in segments]
    return [s for s in clipped if s[1] < s[2]]


@register_attention("fused")
def fused_attention(x, attn, window, shift, chunks=1):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, c = x.shape
    hw, window, shift = (h, w), tuple(window), tuple(shift)
    n = window[0] * window[1]
    rows, inverse, segments = _plan(hw, window, shift, batch, str(x.device))
    # One gather of whole C-vectors (memcpy speed) replaces roll + partition (two strided copies).
    windows = x.reshape(batch * h * w, c).index_select(0, rows).view(-1, n, c)
    masks = folded_bias_mask(attn, hw, window, shift, x.dtype)  # (nW or 1, heads, N, N)

    def attend(part: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if chunks <= 1:
            return _attend_segments(part, attn, masks, segments)
        return _attend_segments(part, attn, masks, _clip(segments, start, stop), start)

    out = attend_in_chunks(windows, chunks, attend)
    return out.reshape(-1, c).index_select(0, inverse).view(batch, h, w, c)
