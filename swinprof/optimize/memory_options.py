"""The memory options and how one step under them is measured (the comparison lives in studies/memory.py).

A memory option is a `MemoryConfig` (activation checkpointing, sequential attention) switched on a model.
A step is a training step (forward, cross-entropy backward, AdamW step) or, in `infer` mode, one forward
under `torch.inference_mode()`. Two meters read it (`swinprof.measure.memory`):

- tensor peak, in this process: `measure_step_memory` / `measure_forward_memory` (TensorPeak on CPU, the
  caching allocator's `max_memory_allocated` on CUDA), with the breakdown (params, grads, AdamW state, ...);
- process peak, in a fresh process: `isolated_step` is the job `run_isolated` runs; it rebuilds the model
  from a `ModelSpec` and runs exactly one configuration's step, so the peak RSS (CUDA: reserved) is its own.
"""

from __future__ import annotations

import gc
import os
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from swinprof.errors import MemoryOptionError
from swinprof.measure.device import synchronize
from swinprof.measure.memory import (
    TensorPeak,
    forward_meter,
    forward_tensor_peak,
    read_process_current,
    read_process_peak,
    score_classifier,
    storage_bytes,
)
from swinprof.models.swin import GRANULARITIES, SwinTransformer, create_model
from swinprof.optimize.memory_terms import MODES

MIB = 2**20


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

    def for_inference(self) -> MemoryConfig:
        """This configuration as a forward under inference_mode sees it: checkpointing does nothing there."""
        return MemoryConfig(seq_chunks=self.seq_chunks, seq_stages=self.seq_stages)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> MemoryConfig:
        return cls(tuple(data["checkpoint_stages"]), data["granularity"], data["seq_chunks"], tuple(data["seq_stages"]))


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the measured model in another process: variant name, resolution, config overrides, seed."""

    name: str
    img_size: int
    overrides: dict = field(default_factory=dict)
    seed: int = 0

    def build(self, device: torch.device | str = "cpu") -> SwinTransformer:
        """The seeded model on `device` (JSON turned tuples into lists; config fields want tuples back)."""
        torch.manual_seed(self.seed)
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in self.overrides.items()}
        return create_model(self.name, img_size=self.img_size, **overrides).to(device)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class StepMemory:
    """Bytes of one measured step (see the module docstring for the meters). Infer steps have no grads,
    optimizer state or activations kept for backward (those stay 0)."""

    tensor_peak: int
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
    """One training step's tensor peak and breakdown. The optimizer must already hold its state (warm).

    The tensor peak counts the parameters, buffers, gradients, AdamW state and the batch as well as every
    tensor the step allocates (CUDA: `max_memory_allocated` over the step, which holds all of those).

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
        tensor_peak=tracker.peak,
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
        tensor_peak=torch.cuda.max_memory_allocated(device) - exclude_bytes,
        params=storage_bytes(params),
        grads=grads,
        optimizer_state=storage_bytes(optimizer_state_tensors(optimizer)),
        activations=activations,
        loss=float(loss.detach()),
    )


def measure_forward_memory(model: nn.Module, images: torch.Tensor, tokens: set[int] | None = None) -> StepMemory:
    """One forward under `torch.inference_mode()`: its tensor peak is exactly `forward_tensor_peak(model(x))`.

    That is the number `profile`, `attention` and `run` print for one forward (the forward's own allocations,
    output included; weights and the input excluded). On CPU the same meter also tags attention scores.
    """
    fn = lambda: model(images)  # noqa: E731
    params = storage_bytes(model.parameters())
    if images.device.type == "cuda":
        return StepMemory(forward_tensor_peak(fn, images.device), params, 0, 0, 0)
    meter = forward_meter(fn, score_classifier(tokens or set()))
    return StepMemory(meter.peak, params, 0, 0, 0, scores_peak=meter.tag_peak.get("scores", 0))


def make_batch(model: SwinTransformer, batch: int, res: int, device: torch.device, seed: int = 0):
    """Seeded random images `(B, 3, res, res)` and labels `(B,)` on `device`."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, model.config.in_chans, res, res, generator=g)
    labels = torch.randint(0, max(model.config.num_classes, 1), (batch,), generator=g)
    return images.to(device), labels.to(device)


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """AdamW as Swin trains (weight decay 0.05); foreach off so no multi-tensor temporaries skew peaks."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, foreach=False)


def isolated_step(model: dict, config: dict, mode: str, batch: int, device: str = "cpu", steps: int = 2) -> dict:
    """The fresh-process job (`run_isolated("swinprof.optimize.memory_options:isolated_step", ...)`) behind a
    process peak.

    Builds `ModelSpec(**model)` with `MemoryConfig.from_json(config)` and runs exactly that configuration's step
    `steps` times on a seeded batch `(batch, 3, res, res)`: training steps (the first creates the AdamW state, so
    the second is the steady state the tensor peak measures) or forwards under inference_mode (a warm-up and
    the measured one, as `forward_tensor_peak`). Returns this process's pid, `floor_bytes` (resident before the
    first step: interpreter, torch, weights, batch) and, on CUDA, `device_peak_bytes` (max_memory_reserved);
    on CPU `run_isolated` reads the peak RSS itself.
    """
    if mode not in MODES:
        raise MemoryOptionError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    dev = torch.device(device)
    spec = ModelSpec(**model)
    net = MemoryConfig.from_json(config).apply(spec.build(dev))
    images, labels = make_batch(net, batch, spec.img_size, dev)
    floor = read_process_current(dev)
    if mode == "train":
        net.train()
        optimizer = make_optimizer(net)
        for _ in range(steps):
            train_step(net, optimizer, images, labels)
    else:
        net.eval()
        with torch.inference_mode():
            for _ in range(steps):
                net(images)
    synchronize(dev)
    peak = read_process_peak(dev) if dev.type == "cuda" else None
    return {"pid": os.getpid(), "floor_bytes": floor, "device_peak_bytes": peak}
