from __future__ import annotations

import torch

from swinprof.models.windows import (
    SHIFT_MASK_VALUE,
    clamp_window,
    log_spaced_coords_table,
    pad_to_windows,
    relative_position_index,
    shift_mask,
    window_partition,
    window_reverse,
)


def test_partition_reverse_round_trip_non_square():
    x = torch.randn(2, 8, 12, 5)
    windows = window_partition(x, (4, 3))
    assert windows.shape == (2 * 2 * 4, 12, 5)
    assert torch.equal(window_reverse(windows, (4, 3), (8, 12)), x)
    # the first window is the top-left 4x3 block in row-major order
    assert torch.equal(windows[0], x[0, :4, :3].reshape(12, 5))


def test_pad_to_windows_pads_bottom_right_with_zeros():
    x = torch.ones(1, 6, 5, 2)
    padded, hw = pad_to_windows(x, (4, 4))
    assert hw == (6, 5) and padded.shape == (1, 8, 8, 2)
    assert padded[:, 6:].abs().sum() == 0 and padded[:, :, 5:].abs().sum() == 0
    assert torch.equal(padded[:, :6, :5], x)


def test_clamp_window_follows_official_rule():
    assert clamp_window((56, 56), 7, 3) == ((7, 7), (3, 3))
    assert clamp_window((7, 7), 7, 3) == ((7, 7), (0, 0))  # swin_t stage 4: no shift
    assert clamp_window((8, 8), 16, 8) == ((8, 8), (0, 0))  # v2 w16 at 256, stage 4
    assert clamp_window((4, 14), 7, 3) == ((4, 7), (0, 0))  # per axis, shift disabled together


def test_shift_mask_separates_regions_and_is_cached():
    mask = shift_mask((8, 8), (4, 4), (2, 2), "cpu")
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # top-left window holds one region only
    last = mask[-1]  # bottom-right window mixes 4 regions
    assert set(last.unique().tolist()) == {0.0, SHIFT_MASK_VALUE}
    assert torch.equal(last, last.T)
    assert shift_mask((8, 8), (4, 4), (2, 2), "cpu") is mask


def test_relative_position_index_of_a_clamped_window_indexes_the_big_table():
    small = relative_position_index((2, 2), table_window=(4, 4))
    full = relative_position_index((4, 4))
    # token (0,0) and (1,1) of a 2x2 window have the same offset as (0,0) and (1,1) of the 4x4 window
    assert small[0, 3] == full[0, 5]
    assert full.max() == (2 * 4 - 1) ** 2 - 1 and full.min() == 0


def test_log_spaced_coords_are_bounded_and_symmetric():
    table = log_spaced_coords_table((8, 8))
    assert table.shape == (15, 15, 2)
    # corners: offset 7 normalised to 8, mapped to log2(8 + 1) / log2(8)
    assert torch.allclose(table.abs().max(), torch.log2(torch.tensor(9.0)) / 3)
    assert torch.allclose(table, -table.flip(0).flip(1))
    pretrained = log_spaced_coords_table((16, 16), pretrained_window=(8, 8))
    assert pretrained.abs().max() > 1.0  # offsets beyond the pretrained window extrapolate
