"""The CPU peak-memory counter: views are not double counted, freed tensors leave the live total."""

from __future__ import annotations

import torch

from swinprof.bench.memory import peak_bytes

MB4 = 1000 * 1000 * 4  # bytes of a 1000x1000 fp32 tensor


def test_peak_counts_live_tensors_once():
    x = torch.randn(1000, 1000)

    def two_live():
        a = x @ x
        b = a.relu()  # a and b alive together
        del a
        return b + 1  # a freed before c: still two at most

    def one_buffer_and_views():
        a = x @ x
        a.relu_()  # in place: same storage
        return a.view(-1)[:10]

    assert peak_bytes(two_live) == 2 * MB4
    assert peak_bytes(one_buffer_and_views) == MB4
