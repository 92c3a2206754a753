"""`fused`: roll + partition and merge + reverse roll each done as one row gather with a precomputed index.

Trades: cached `(B*H*W,)` index tensors (per batch size and geometry) for the rolled copy, the partition
copy and their inverses (the idea of the official fused window-process CUDA kernel, in plain PyTorch),
plus a window order that groups windows by shift-mask pattern so SDPA runs on strided q/k/v views with
a broadcast `(1, heads, N, N)` mask: no q/k/v copy, no score tensor. Not included: a Triton kernel for
the gather (no GPU was available to verify one).

A shifted map has at most four mask patterns: interior windows (bias only), the last window row, the
last window column and the corner. Ordering the gathered windows group by group, image by image,
makes each group one contiguous slice of the batch dimension.
"""

from __future__ import annotations

import functools

import torch

from swinprof.models.attention._shared import folded_bias_mask, normal_tensors, scaled_qk_for_sdpa, sdpa, window_order
from swinprof.models.attention.registry import register_attention
from swinprof.models.windows import Pair, shift_mask


@functools.lru_cache(maxsize=64)
@normal_tensors
def _plan(hw: Pair, window: Pair, shift: Pair, batch: int, device: str):
    """`(rows, inverse, group_sizes, reps)` for gathering `(B*H*W, C)` rows into grouped window order.

    `rows` `(B*H*W,)`: source row of each gathered token; `inverse` undoes it. `group_sizes`: windows
    (times batch) per mask pattern, in order; `reps`: one window index per group, to pick its mask.
    """
    h, w = hw
    n = window[0] * window[1]
    order = window_order(hw, window, shift, device)[0].view(-1, n)  # (nW, N), reference window order
    if any(shift):
        patterns = shift_mask(hw, window, shift, device).flatten(1)
        _, group_of = torch.unique(patterns, dim=0, return_inverse=True)  # (nW,)
    else:
        group_of = torch.zeros(order.shape[0], dtype=torch.long, device=device)
    image_offset = (torch.arange(batch, device=device) * h * w)[:, None, None]
    rows, sizes, reps = [], [], []
    for g in range(int(group_of.max()) + 1):
        members = torch.nonzero(group_of == g).flatten()
        rows.append((image_offset + order[members][None]).flatten())  # (B * |group| * N,)
        sizes.append(batch * members.numel())
        reps.append(int(members[0]))
    rows = torch.cat(rows)
    return rows, torch.argsort(rows), tuple(sizes), tuple(reps)


@register_attention("fused")
def fused_attention(x, attn, window, shift):
    """`(B, H, W, C)` -> `(B, H, W, C)`; same maths as `reference`, to fp tolerance."""
    batch, h, w, c = x.shape
    n = window[0] * window[1]
    rows, inverse, sizes, reps = _plan((h, w), tuple(window), tuple(shift), batch, str(x.device))
    # One gather of whole C-vectors (memcpy speed) replaces roll + partition (two strided copies).
    windows = x.reshape(batch * h * w, c).index_select(0, rows).view(-1, n, c)
    q, k, v = attn.qkv_heads(windows)  # strided views (B*nW, heads, N, hd)
    q, k, scale = scaled_qk_for_sdpa(attn, q, k)
    masks = folded_bias_mask(attn, (h, w), window, shift, x.dtype)  # (nW or 1, heads, N, N)
    outs, start = [], 0
    for rep, size in zip(reps, sizes):
        part = slice(start, start + size)
        mask = masks[rep : rep + 1]  # a view: (1, heads, N, N), broadcast over the group
        outs.append(sdpa(q[part], k[part], v[part], attn, mask, scale).transpose(1, 2))
        start += size
    out = torch.cat(outs) if len(outs) > 1 else outs[0]  # (B*nW, N, heads, hd)
    out = attn.proj_drop(attn.proj(out.reshape(-1, c)))
    return out.index_select(0, inverse).view(batch, h, w, c)
