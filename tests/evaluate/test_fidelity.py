"""Fidelity metrics on hand-made logits."""

from __future__ import annotations

import math

import pytest
import torch

from swinprof.evaluate.fidelity import compare_logits, sqnr_db


def test_identical_logits():
    ref = torch.randn(8, 10)
    f = compare_logits(ref, ref.clone())
    assert (f.top1_agreement, f.top5_agreement, f.max_abs_err, f.samples) == (1.0, 1.0, 0.0, 8)
    assert f.sqnr_db == math.inf and f.cosine == pytest.approx(1.0)


def test_known_noise_level():
    ref = torch.ones(4, 10)
    noisy = ref + 0.1  # noise power 0.01 vs signal 1 -> 20 dB
    assert sqnr_db(ref, noisy) == pytest.approx(20.0)


def test_agreement_counts():
    ref = torch.tensor([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    test = torch.tensor([[4.0, 5, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])  # row 0: top-1 swapped, still in top-5
    f = compare_logits(ref, test)
    assert f.top1_agreement == 0.5 and f.top5_agreement == 1.0 and f.max_abs_err == 1.0


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        compare_logits(torch.zeros(2, 3), torch.zeros(2, 4))
