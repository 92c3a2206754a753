"""Tiny seeded models for the optimize/evaluate tests (kept small: inductor compiles on 2 shared cores)."""

from __future__ import annotations

import torch

from swinprof.models import create_model

TINY = dict(img_size=64, embed_dim=32, depths=(2, 2, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)


def tiny_model(name: str = "swin_t", seed: int = 0, **overrides) -> torch.nn.Module:
    """A seeded tiny model, weights nudged away from their init so biases and norms are not trivial."""
    torch.manual_seed(seed)
    model = create_model(name, **{**TINY, **overrides}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def inputs(n: int = 4, seed: int = 1, size: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
