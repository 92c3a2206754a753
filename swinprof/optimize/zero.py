"""ZeRO-1 (optimizer-state sharding) with torch.distributed, launched by torchrun.

`ZeroRedundancyOptimizer` wraps AdamW so each rank keeps the AdamW state of only its share of the
parameters and broadcasts its updated parameters after the step; DDP all-reduces the gradients. gloo on
CPU, NCCL on CUDA. Each rank measures the tensor peak of its own step (`measure_step_memory`); rows are
gathered to rank 0 with `all_gather_object`. Both optimizers live on the same DDP model so their step times
interleave; the tensor-peak meter only counts the state of the optimizer being stepped. No process peak per
row: each rank's process runs both optimizers.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pandas as pd
import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

from swinprof.errors import DeviceUnavailableError, MemoryOptionError
from swinprof.measure.memory import storage_bytes
from swinprof.measure.timing import measure_interleaved
from swinprof.models.swin import SwinTransformer
from swinprof.optimize.memory_options import (
    MIB,
    make_batch,
    measure_step_memory,
    optimizer_state_tensors,
    train_step,
    window_tokens,
)

TORCHRUN_HINT = "torchrun --nproc-per-node 2 -m swinprof memory MODEL --zero 1"


def distributed_env() -> tuple[int, int, int]:
    """`(rank, world_size, local_rank)` from torchrun's environment, or a clear error without it."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise MemoryOptionError(
            f"ZeRO-1 runs one process per rank under torch.distributed, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: launch with `{TORCHRUN_HINT}`"
        )
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group (NCCL for CUDA, gloo for CPU). Returns `(rank, world, device of this rank)`."""
    rank, world, local_rank = distributed_env()
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("CUDA was requested but no CUDA GPU is available here: use --device cpu")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def build_optimizers(ddp: DistributedDataParallel, lr: float = 1e-3):
    """Plain AdamW (full state on every rank) and ZeRO-1 AdamW (state sharded over ranks)."""
    params = list(ddp.parameters())
    plain = torch.optim.AdamW(params, lr=lr, weight_decay=0.05, foreach=False)
    zero = ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.AdamW, lr=lr, weight_decay=0.05, foreach=False)
    return plain, zero


def zero_rows(
    model: SwinTransformer, batch: int, res: int, device: torch.device, iters: int = 2, warmup: int = 1
) -> pd.DataFrame:
    """Per-rank rows for `DDP + AdamW` and `DDP + ZeRO-1 AdamW` (call on every rank; rank 0 gets all rows)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model.train()
    # gradient_as_bucket_view: gradients live in DDP's buckets instead of beside them (no 2x gradient memory).
    ddp = DistributedDataParallel(model, gradient_as_bucket_view=True)
    images, labels = make_batch(model, batch, res, device, seed=rank)
    plain, zero = build_optimizers(ddp)
    optimizers = {"DDP + AdamW": plain, "DDP + ZeRO-1 AdamW": zero}
    tokens = window_tokens(model)
    mems = {}
    for name, opt in optimizers.items():
        train_step(ddp, opt, images, labels)  # warm state
        mems[name] = measure_step_memory(ddp, opt, images, labels, tokens, exclude_bytes=_other_state(opt, optimizers))
    fns = {name: (lambda o=opt: train_step(ddp, o, images, labels)) for name, opt in optimizers.items()}
    times = measure_interleaved(fns, warmup=warmup, iters=iters, device=device, grad=True)
    full_state = storage_bytes(optimizer_state_tensors(plain))
    local = []
    for name, m in mems.items():
        row = {"optimizer": name, "rank": rank, "world size": world, **_row(m, full_state)}
        row["step median (ms)"] = times[name].median
        row["tensor_peak_bytes"] = m.tensor_peak
        local.append(row)
    gathered: list = [None] * world
    dist.all_gather_object(gathered, local)
    rows = [r for part in gathered for r in part]
    return pd.DataFrame(sorted(rows, key=lambda r: (r["optimizer"] != "DDP + AdamW", r["rank"])))


def _other_state(opt, optimizers: dict) -> int:
    return sum(storage_bytes(optimizer_state_tensors(o)) for o in optimizers.values() if o is not opt)


def _row(m, full_state: int) -> dict:
    d = asdict(m)
    return {
        "tensor peak (MiB)": d["tensor_peak"] / MIB,
        "params (MiB)": d["params"] / MIB,
        "grads (MiB)": d["grads"] / MIB,
        "optimizer state (MiB)": d["optimizer_state"] / MIB,
        "activations (MiB)": d["activations"] / MIB,
        "optimizer state vs full AdamW": d["optimizer_state"] / full_state,
    }


def params_in_sync(model: torch.nn.Module) -> bool:
    """True when every rank holds bit-identical parameters (checked with all_gather of a flat copy)."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    copies = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(copies, flat)
    return all(torch.equal(c, copies[0]) for c in copies)
