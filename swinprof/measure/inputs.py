"""Seeded inputs: every command that feeds random images to a model makes them here, so two commands given the
same batch, resolution and seed measure the same input (and a run can be reproduced)."""

from __future__ import annotations

import torch

DEFAULT_SEED = 0


def seeded_images(
    batch: int,
    res: int,
    seed: int = DEFAULT_SEED,
    channels: int = 3,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N(0, 1) images `(batch, channels, res, res)` drawn on the CPU from a private generator (the global RNG,
    and so model initialisation, is left alone), then moved to `device` / `dtype`."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, res, res, generator=gen).to(device=device, dtype=dtype)


def seeded_batches(count: int, batch_size: int, shape: tuple[int, ...], seed: int = 1) -> list[torch.Tensor]:
    """Seeded standard-normal `(b, *shape)` batches adding up to `count` images."""
    g = torch.Generator().manual_seed(seed)
    sizes = [min(batch_size, count - i) for i in range(0, count, batch_size)]
    return [torch.randn(b, *shape, generator=g) for b in sizes]
