"""Tiny seeded models for the optimize/evaluate tests (kept small: inductor compiles on 2 shared cores)."""

from __future__ import annotations

import torch

from tests.conftest import tiny_model as shared_tiny_model

TINY = dict(img_size=64, embed_dim=32, depths=(2, 2, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)


def tiny_model(name: str = "swin_t", seed: int = 0, **overrides) -> torch.nn.Module:
    """The shared seeded tiny model (tests/conftest.py), at this package's smaller size."""
    return shared_tiny_model(name, seed, **{**TINY, **overrides})


def inputs(n: int = 4, seed: int = 1, size: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
