"""Calibration batches for a recipe: the images of the run's data folder when asked, else seeded random inputs."""

from __future__ import annotations

import torch

from swinprof.evaluate.imagefolder import ImageSet, iter_batches
from swinprof.measure.inputs import seeded_batches
from swinprof.optimize.recipe import Recipe


def calibration_batches(
    r: Recipe, images: ImageSet | None, transform, shape: tuple[int, int, int], device, seed: int
) -> list[torch.Tensor]:
    """Calibration batches `(b, 3, H, W)` for a recipe: images when asked (or `auto` with --data), else random
    N(0, 1) inputs seeded with `seed + 1`; none for a method that does not calibrate."""
    cal = r.quantize.calibration
    if not r.method.calibrated:
        return []
    if images is not None and cal.source in ("auto", "data"):
        return [x.to(device) for x, _ in iter_batches(images, transform, cal.batch_size, cal.count)]
    return [x.to(device) for x in seeded_batches(cal.count, cal.batch_size, shape, seed + 1)]
