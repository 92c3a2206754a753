"""Window geometry: partition/reverse, padding, shift masks and relative-position indices.

All feature maps are channels-last, `(B, H, W, C)`. Windows are `(wh, ww)` tuples so non-square
feature maps work; shifts are `(sh, sw)` with `(0, 0)` meaning a regular (unshifted) block.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from swinprof.models.cache import geometry_cache

Pair = tuple[int, int]

# The paper's additive mask value for token pairs that come from different regions of the rolled map.
SHIFT_MASK_VALUE = -100.0


def clamp_window(feature_hw: Pair, window: int, shift: int) -> tuple[Pair, Pair]:
    """Window and shift actually used on a `feature_hw` map.

    Along any axis no longer than the window, the window shrinks to the axis and the shift is dropped
    (a shift would only wrap the whole axis around). For square maps this is the official rule
    `if min(resolution) <= window: shift = 0; window = min(resolution)`.
    """
    wins, shifts = [], []
    for side in feature_hw:
        if side <= window:
            wins.append(side)
            shifts.append(0)
        else:
            wins.append(window)
            shifts.append(shift)
    if 0 in shifts:  # the official code disables the shift on both axes together
        shifts = [0, 0]
    return (wins[0], wins[1]), (shifts[0], shifts[1])


def pad_to_windows(x: torch.Tensor, window: Pair) -> tuple[torch.Tensor, Pair]:
    """Zero-pad `(B, H, W, C)` at the bottom/right to multiples of the window. Returns `(x, (H, W))`."""
    _, h, w, _ = x.shape
    pad_h = (window[0] - h % window[0]) % window[0]
    pad_w = (window[1] - w % window[1]) % window[1]
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x, (h, w)


def window_partition(x: torch.Tensor, window: Pair) -> torch.Tensor:
    """`(B, H, W, C)` -> `(B * nW, wh * ww, C)`, windows in row-major order."""
    b, h, w, c = x.shape
    wh, ww = window
    x = x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: torch.Tensor, window: Pair, hw: Pair) -> torch.Tensor:
    """`(B * nW, wh * ww, C)` -> `(B, H, W, C)`; the inverse of `window_partition`."""
    wh, ww = window
    h, w = hw
    c = windows.shape[-1]
    x = windows.view(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def attend_in_shifted_windows(
    x: torch.Tensor, window: Pair, shift: Pair, attend: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """The cyclic-shift scaffold shared by the implementations that partition windows.

    Rolls the padded map `(B, H, W, C)` by `-shift`, partitions it into windows `(B*nW, N, C)`, applies
    `attend` (which returns the same shape), merges the windows and rolls back by `shift`.
    """
    _, h, w, _ = x.shape
    shifted = any(shift)
    if shifted:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    out = window_reverse(attend(window_partition(x, window)), window, (h, w))
    if shifted:
        out = torch.roll(out, shifts=shift, dims=(1, 2))
    return out


def region_ids(hw: Pair, window: Pair, shift: Pair, device: torch.device | str = "cpu") -> torch.Tensor:
    """`(H, W)` integer map of the 3x3 regions a cyclic shift brings together.

    After rolling by `-shift`, the last `window` rows/cols mix tokens from two regions: ids differ where
    tokens were not neighbours in the original image.
    """
    ids = []
    for size, win, sh in zip(hw, window, shift):
        idx = torch.arange(size, device=device)
        ids.append((idx >= size - win).long() + (idx >= size - sh).long())
    return ids[0][:, None] * 3 + ids[1][None, :]


@geometry_cache()
def _shift_mask_cached(hw: Pair, window: Pair, shift: Pair, device: str) -> torch.Tensor:
    ids = region_ids(hw, window, shift, device).to(torch.float32)
    win_ids = window_partition(ids[None, :, :, None], window).squeeze(-1)  # (nW, N)
    diff = win_ids[:, None, :] - win_ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, SHIFT_MASK_VALUE)


def shift_mask(hw: Pair, window: Pair, shift: Pair, device: torch.device | str) -> torch.Tensor:
    """`(nW, N, N)` additive mask, 0 within a region and -100 across regions. Cached per geometry
    (`geometry_cache`: built afresh while tracing)."""
    return _shift_mask_cached(tuple(hw), tuple(window), tuple(shift), str(device))


@geometry_cache()
def _relative_position_index(window: Pair, table_window: Pair) -> torch.Tensor:
    # Explicit CPU device: the result is cached, so it must not inherit a `torch.device("meta")` context.
    ar_h, ar_w = torch.arange(window[0], device="cpu"), torch.arange(window[1], device="cpu")
    coords = torch.stack(torch.meshgrid(ar_h, ar_w, indexing="ij"))
    coords = coords.flatten(1)  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N), offsets in [-(w-1), w-1]
    rel_h = rel[0] + table_window[0] - 1
    rel_w = rel[1] + table_window[1] - 1
    return rel_h * (2 * table_window[1] - 1) + rel_w


def relative_position_index(window: Pair, table_window: Pair | None = None) -> torch.Tensor:
    """`(N, N)` index into a `(2*th-1)*(2*tw-1)` bias table for every token pair of a window.

    `table_window` defaults to `window`; a smaller window indexes the sub-table of its offsets, which is
    how a block whose window was clamped reuses a larger table.
    """
    return _relative_position_index(tuple(window), tuple(table_window or window)).clone()


def log_spaced_coords_table(window: Pair, pretrained_window: Pair | None = None) -> torch.Tensor:
    """Swin v2 continuous-position-bias input: `(2*wh-1, 2*ww-1, 2)` log-spaced relative coordinates.

    Offsets are normalised to [-8, 8] by `pretrained_window - 1` (or `window - 1`), then mapped by
    `sign(x) * log2(|x| + 1) / log2(8)` (paper eq. 4).
    """
    rh = torch.arange(-(window[0] - 1), window[0], dtype=torch.float32)
    rw = torch.arange(-(window[1] - 1), window[1], dtype=torch.float32)
    table = torch.stack(torch.meshgrid(rh, rw, indexing="ij"), dim=-1)
    norm = pretrained_window if pretrained_window and pretrained_window[0] > 0 else window
    table[..., 0] /= max(norm[0] - 1, 1)
    table[..., 1] /= max(norm[1] - 1, 1)
    table *= 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0  # log2(8) == 3
