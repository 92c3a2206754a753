"""Seeded inputs: every command that feeds random images to a model makes them here, so two commands given the
same batch, resolution and seed measure the same input (and a run can be reproduced)."""

from __future__ import annotations

from collections.abc import Iterator

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


def iter_seeded_batches(count: int, batch_size: int, shape: tuple[int, ...], seed: int = 1) -> Iterator[torch.Tensor]:
    """Seeded standard-normal `(b, *shape)` batches adding up to `count` images, made one at a time (memory holds
    one batch, whatever `count` is)."""
    g = torch.Generator().manual_seed(seed)
    for start in range(0, count, batch_size):
        yield torch.randn(min(batch_size, count - start), *shape, generator=g)


def seeded_batches(count: int, batch_size: int, shape: tuple[int, ...], seed: int = 1) -> list[torch.Tensor]:
    """`iter_seeded_batches` as a list (the same values)."""
    return list(iter_seeded_batches(count, batch_size, shape, seed))
