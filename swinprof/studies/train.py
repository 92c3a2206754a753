"""Train a small Swin on an ImageFolder: a fixture generator and an example, not a training framework.

What it does, and why each piece is there:
- AdamW (decoupled weight decay, the Swin paper's optimizer) with a per-step schedule: linear warmup, then
  cosine decay to zero. Label smoothing 0.1 (as in the Swin recipe). Decay as the reference training applies
  it (`decay_groups`): none on 1-D parameters, biases, or what the model names (`no_weight_decay_keywords`).
- Light augmentation that fits handwritten digits: a small random affine per image (rotation within
  +-10 degrees, scale 0.9..1.1, translation within +-2 pixels of 32), no flips (a flipped 2 is not a 2).
- Seeded: one `torch.Generator` draws the initial weights' seed, the shuffles and the augmentation; stochastic
  depth draws from torch's global generator, seeded from the same seed. Two trainings with one seed on one
  machine and thread count give the same weights; across thread counts float sums may round differently.

The images go through the same evaluation transform the variant declares (`build_transform`), so what the model
learned is exactly what `swinprof run --data` feeds it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from swinprof.evaluate.imagefolder import ImageSet, iter_batches
from swinprof.studies.train_settings import TrainSettings

__all__ = ["TrainSettings", "Training"]  # TrainSettings lives in train_settings (read by the parser, no torch)
DEFAULTS = TrainSettings()


@dataclass
class Training:
    """What a training run produced: the model (eval mode), seconds, and the loss of each epoch."""

    model: nn.Module
    seconds: float
    settings: TrainSettings
    epoch_loss: list[float] = field(default_factory=list)


def load_tensors(images: ImageSet, transform: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a labeled set through `transform`: `(N, 3, H, W)` and labels `(N,)`."""
    batches = list(iter_batches(images, transform, 256))
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


def random_affine(x: torch.Tensor, s: TrainSettings, g: torch.Generator) -> torch.Tensor:
    """Each image of `(B, C, H, W)` rotated, scaled and shifted by its own small random affine (border padding:
    the digits' background)."""
    b, _, h, _ = x.shape
    angle = (torch.rand(b, generator=g) * 2 - 1) * math.radians(s.max_rotate_deg)
    scale = 1 + (torch.rand(b, generator=g) * 2 - 1) * s.max_scale
    shift = (torch.rand(b, 2, generator=g) * 2 - 1) * (2 * s.max_shift_px / h)  # grid units: 2 = the whole side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warmup over `warmup` steps to `peak`, then cosine decay to 0 at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def train(
    build: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings = DEFAULTS,
    on_epoch: Callable[[int, float], None] | None = None,
) -> Training:
    """Train `build()` (called after seeding, so its initial weights follow the seed) on `(N, 3, H, W)` images
    `x` with labels `y`. Returns the model in eval mode."""
    s = settings
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        return _train(build, x, y, s, on_epoch)
    finally:
        torch.set_num_threads(threads)


def decays(name: str, param: torch.Tensor, skip_keywords: tuple[str, ...]) -> bool:
    """Whether weight decay applies to a parameter, by microsoft/Swin-Transformer's rule: not on 1-D parameters
    (norms), biases, or names holding one of the model's `skip_keywords`."""
    return param.ndim > 1 and not name.endswith(".bias") and not any(k in name for k in skip_keywords)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: `[decayed, not decayed]` (see `decays`; the model's `no_weight_decay_keywords`)."""
    skip = tuple(model.no_weight_decay_keywords()) if hasattr(model, "no_weight_decay_keywords") else ()
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if decays(n, p, skip)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if not decays(n, p, skip)], "weight_decay": 0.0}]  # fmt: skip


def _train(build, x, y, s: TrainSettings, on_epoch) -> Training:
    torch.manual_seed(s.seed)  # initial weights and stochastic depth
    g = torch.Generator().manual_seed(s.seed + 1)  # shuffles and augmentation
    model = build().train()
    opt = torch.optim.AdamW(decay_groups(model, s.weight_decay), lr=s.lr)
    steps_per_epoch = math.ceil(len(x) / s.batch_size)
    total, warmup = s.epochs * steps_per_epoch, max(1, round(s.warmup_epochs * steps_per_epoch))
    losses, step, start = [], 0, time.perf_counter()
    for epoch in range(s.epochs):
        order, running = torch.randperm(len(x), generator=g), 0.0
        for i in range(0, len(x), s.batch_size):
            idx = order[i : i + s.batch_size]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, s.lr)
            loss = F.cross_entropy(model(random_affine(x[idx], s, g)), y[idx], label_smoothing=s.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(idx)
            step += 1
        losses.append(running / len(x))
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    return Training(model.eval(), time.perf_counter() - start, s, losses)


def predictions(model: nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Top-5 class indices `(N, 5)` (fewer with fewer classes) of `model` on `x` `(N, 3, H, W)`."""
    with torch.inference_mode():
        logits = torch.cat([model(x[i : i + batch]).float() for i in range(0, len(x), batch)])
    return logits.topk(min(5, logits.shape[1]), dim=1).indices
