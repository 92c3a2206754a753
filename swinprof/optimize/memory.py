"""Training-step memory: what activation checkpointing and sequential attention buy, and at what time cost.

One training step = forward, cross-entropy backward, AdamW step. Memory is read the same way for every row:
on CUDA from the caching allocator (`max_memory_allocated`), elsewhere from `TensorPeak` (peak bytes
of live tensor storages, seen through a TorchDispatchMode). Rows share one model and one optimizer (the
options are switched on the model between steps), so parameters and optimizer state are identical and the
differences are activations and transients only.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from swinprof.errors import MemoryOptionError
from swinprof.measure.memory import TensorPeak, score_classifier, storage_bytes
from swinprof.measure.timing import measure_interleaved
from swinprof.models.swin import GRANULARITIES, SwinTransformer

MIB = 2**20
METHOD_CPU = "peak bytes of live tensor storages (TorchDispatchMode tracker)"
METHOD_CUDA = "CUDA caching-allocator peak (torch.cuda.max_memory_allocated)"


@dataclass(frozen=True)
class MemoryConfig:
    """One row: which memory options are on. Stage indices are 0-based here (the CLI takes 1-based)."""

    checkpoint_stages: tuple[int, ...] = ()
    granularity: str = "stage"
    seq_chunks: int = 1
    seq_stages: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise MemoryOptionError(f"unknown granularity {self.granularity!r}; choose one of: stage, block")
        if isinstance(self.seq_chunks, bool) or not isinstance(self.seq_chunks, int) or self.seq_chunks < 1:
            raise MemoryOptionError(f"sequential attention needs chunks >= 1, got {self.seq_chunks!r}")

    @property
    def label(self) -> str:
        parts = []
        if self.checkpoint_stages:
            stages = ",".join(str(s + 1) for s in self.checkpoint_stages)
            parts.append(f"checkpoint {self.granularity}s {stages}")
        if self.seq_chunks > 1:
            stages = ",".join(str(s + 1) for s in self.seq_stages)
            parts.append(f"seq-attn {self.seq_chunks} chunks, stages {stages}")
        return " + ".join(parts) or "baseline"

    def apply(self, model: SwinTransformer) -> SwinTransformer:
        """Switch `model` to exactly this configuration (everything else off)."""
        model.set_grad_checkpointing(False)
        model.set_sequential_attention(1, stages=None)
        if self.checkpoint_stages:
            model.set_grad_checkpointing(True, self.checkpoint_stages, self.granularity)
        if self.seq_chunks > 1:
            model.set_sequential_attention(self.seq_chunks, self.seq_stages)
        return model


@dataclass
class StepMemory:
    """Bytes of one measured training step (see the module docstring for the method)."""

    peak: int
    params: int
    grads: int
    optimizer_state: int
    activations: int  # alive after forward, kept for backward (logits and loss included)
    scores_peak: int = 0  # attention score-shaped tensors alive at once (tracker only)
    loss: float = float("nan")
    extra: dict = field(default_factory=dict)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor):
    """Forward, cross-entropy backward, optimizer step. Returns the detached loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.detach()


def optimizer_state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every tensor in the optimizer's (local) state; ZeroRedundancyOptimizer holds its shard in `.optim`."""
    inner = getattr(optimizer, "optim", optimizer)
    return [v for state in inner.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def window_tokens(model: SwinTransformer) -> set[int]:
    return {b.window[0] * b.window[1] for b in model.blocks()}


def measure_step_memory(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    tokens: set[int] | None = None,
    exclude_bytes: int = 0,
) -> StepMemory:
    """One training step with memory accounting. The optimizer must already hold its state (warm).

    `exclude_bytes`: bytes alive on the allocator that belong to no row (CUDA only; the tracker never sees
    tensors it was not shown).
    """
    params = [p for p in model.parameters()]
    state = optimizer_state_tensors(optimizer)
    if images.device.type == "cuda":
        optimizer.zero_grad(set_to_none=True)
        gc.collect()
        return _measure_cuda(model, optimizer, images, labels, params, state, exclude_bytes)
    tracker = TensorPeak(score_classifier(tokens or set()))
    # Gradients that outlive zero_grad (DDP's bucket views) stay counted; freed ones drop out again.
    tracker.track(p.grad for p in params if p.grad is not None)
    optimizer.zero_grad(set_to_none=True)
    gc.collect()
    tracker.track(params)
    tracker.track(model.buffers())
    tracker.track(state)
    tracker.track([images, labels])
    tracker.reset_peak()
    with tracker:
        start = tracker.current
        loss = F.cross_entropy(model(images), labels)
        activations = tracker.current - start
        loss.backward()
        grads = storage_bytes(p.grad for p in params if p.grad is not None)
        optimizer.step()
    return StepMemory(
        peak=tracker.peak,
        params=storage_bytes(params),
        grads=grads,
        optimizer_state=storage_bytes(optimizer_state_tensors(optimizer)),
        activations=activations,
        scores_peak=tracker.tag_peak.get("scores", 0),
        loss=float(loss.detach()),
    )


def _measure_cuda(model, optimizer, images, labels, params, state, exclude_bytes) -> StepMemory:
    # Unverified on a GPU in this project (no GPU on the development machines); documented allocator APIs only.
    device = images.device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    loss = F.cross_entropy(model(images), labels)
    torch.cuda.synchronize(device)
    activations = torch.cuda.memory_allocated(device) - start
    loss.backward()
    grads = storage_bytes(p.grad for p in params if p.grad is not None)
    optimizer.step()
    torch.cuda.synchronize(device)
    return StepMemory(
        peak=torch.cuda.max_memory_allocated(device) - exclude_bytes,
        params=storage_bytes(params),
        grads=grads,
        optimizer_state=storage_bytes(optimizer_state_tensors(optimizer)),
        activations=activations,
        loss=float(loss.detach()),
    )


def make_batch(model: SwinTransformer, batch: int, res: int, device: torch.device, seed: int = 0):
    """Seeded random images `(B, 3, res, res)` and labels `(B,)` on `device`."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, model.config.in_chans, res, res, generator=g)
    labels = torch.randint(0, max(model.config.num_classes, 1), (batch,), generator=g)
    return images.to(device), labels.to(device)


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """AdamW as Swin trains (weight decay 0.05); foreach off so no multi-tensor temporaries skew peaks."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, foreach=False)


def compare_configs(
    model: SwinTransformer,
    configs: list[MemoryConfig],
    batch: int,
    res: int,
    device: torch.device,
    iters: int = 3,
    warmup: int = 1,
    on_iter: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """One row per config: peak, breakdown (MiB), step time median (interleaved), ratios vs the first row."""
    model.train()
    images, labels = make_batch(model, batch, res, device)
    optimizer = make_optimizer(model)
    train_step(model, optimizer, images, labels)  # creates AdamW state: rows measure a steady-state step
    tokens = window_tokens(model)
    mems = []
    for cfg in configs:
        cfg.apply(model)
        mems.append(measure_step_memory(model, optimizer, images, labels, tokens))
    fns = {cfg.label: _step_fn(model, optimizer, cfg, images, labels) for cfg in configs}
    timings = measure_interleaved(fns, warmup=warmup, iters=iters, device=device, on_iter=on_iter, grad=True)
    configs[0].apply(model)
    return memory_frame(configs, mems, [timings[c.label].median for c in configs])


def _step_fn(model, optimizer, cfg, images, labels):
    def step():
        cfg.apply(model)
        train_step(model, optimizer, images, labels)

    return step


def memory_frame(configs: list[MemoryConfig], mems: list[StepMemory], times_ms: list[float]) -> pd.DataFrame:
    base, base_t = mems[0], times_ms[0]
    rows = []
    for cfg, m, t in zip(configs, mems, times_ms):
        rows.append(
            {
                "config": cfg.label,
                "peak (MiB)": m.peak / MIB,
                "params (MiB)": m.params / MIB,
                "grads (MiB)": m.grads / MIB,
                "optimizer state (MiB)": m.optimizer_state / MIB,
                "activations (MiB)": m.activations / MIB,
                "attn scores peak (MiB)": m.scores_peak / MIB,
                "step median (ms)": t,
                "peak vs baseline": m.peak / base.peak,
                "activations vs baseline": m.activations / base.activations if base.activations else float("nan"),
                "time vs baseline": t / base_t,
            }
        )
    return pd.DataFrame(rows)
