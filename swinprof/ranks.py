"""The process group a command runs in: one process, or one rank of a `torchrun` launch.

Work that outgrows one machine (accuracy over a full validation set, per-layer sensitivity probes) runs on
`torch.distributed` under `torchrun`, single-node or multi-node through its rendezvous: gloo on CPU, nccl on CUDA.
Nothing here is home-made transport. The rules every caller follows:

- `agree`: before any work, every rank checks that it holds the same plan (arguments, weights, data listing);
  a difference stops every rank with one line naming it.
- `shard`: ranks split whole work items by index (item k goes to rank k mod world), never padding a shard by
  repeating items, so every item is done exactly once whatever the world size (padding is how distributed
  samplers make accuracies depend on the number of GPUs: pytorch/vision#4559, facebookresearch/deit#24).
- `gather`: per-item results travel back keyed by item index, so an out-of-order arrival cannot mis-pair them.
- rank 0 alone writes reports; a lost peer (a killed rank) is one `RanksError` on the others, not a hang: the
  transport notices the closed connection at the next collective, and a hung peer runs into `TIMEOUT`.

A command outside torchrun gets `SINGLE` (rank 0 of 1), for which every call here is a no-op.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from swinprof.errors import SwinprofError, UsageError

T = TypeVar("T")
# How long a collective waits for a peer that neither answers nor closes its connection (a killed peer is noticed
# at once). Long enough for a rank that compiles its recipes a little slower than the others.
TIMEOUT = timedelta(minutes=60)
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class RanksError(SwinprofError, RuntimeError):
    """A peer rank stopped, could not be reached, or disagrees with this one."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the launch: `rank` of `world` in all, `local_rank` of `local_world` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    backend: str | None = None  # None: a single process, no process group

    @property
    def main(self) -> bool:
        """Rank 0: the one that gathers, times latency and writes the report."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """In a process group (torchrun), even of one rank: the collectives then run through the backend."""
        return self.backend is not None

    def describe(self) -> str:
        """In words, for reports: `1 process` or `4 ranks (gloo) on 2 nodes`."""
        if not self.distributed:
            return "1 process"
        nodes = -(-self.world // self.local_world)
        ranks = f"{self.world} rank{'s' if self.world > 1 else ''}"
        return f"{ranks} ({self.backend}) on {nodes} node{'s' if nodes > 1 else ''}"

    def shard(self, count: int) -> range:
        """The item indices of `range(count)` this rank does: k with k mod world == rank."""
        return range(self.rank, count, self.world)

    def gather(self, mine: dict[int, T], everyone: bool = False) -> dict[int, T] | None:
        """Every rank's `{item index: result}` merged, on rank 0 (None elsewhere) or, with `everyone`, on all
        ranks. An index reported by two ranks is a bug in the sharding and is refused."""
        if not self.distributed:
            return dict(mine)
        import torch.distributed as dist

        parts: list[dict[int, T] | None] = [None] * self.world
        if everyone:
            _collective(lambda: dist.all_gather_object(parts, mine))
        else:
            _collective(lambda: dist.gather_object(mine, parts if self.main else None, dst=0))
            if not self.main:
                return None
        merged: dict[int, T] = {}
        for part in parts:
            twice = merged.keys() & part.keys()
            if twice:
                raise RanksError(f"items {sorted(twice)[:5]} were done by two ranks: the shards overlap")
            merged.update(part)
        return merged

    def agree(self, plan: dict[str, Any]) -> None:
        """Stop every rank, naming the first difference, unless all ranks hold the same `plan` (key -> value)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        plans: list[dict | None] = [None] * self.world
        _collective(lambda: dist.all_gather_object(plans, plan))
        for rank, other in enumerate(plans):
            difference = first_difference(plans[0], other)
            if difference:
                key, here, there = difference
                raise UsageError(f"rank {rank} was launched with {key} {there}, rank 0 with {here}: start every rank "
                                 "with the same command, weights and data")  # fmt: skip

    def broadcast(self, value: T) -> T:
        """Rank 0's `value`, on every rank."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        _collective(lambda: dist.broadcast_object_list(box, src=0))
        return box[0]


SINGLE = Ranks()
MAX_WORKERS = 8  # data-loader processes per rank, at most


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(processes_on_node: int = 1) -> int:
    """Data-loader processes per rank when `--workers` is not given: this node's cores shared by its ranks, at
    least one (decoding then overlaps the forward), at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, available_cores() // max(1, processes_on_node)))


def launched() -> bool:
    """Whether torchrun (or another launcher setting its variables) started this process, even as its only rank
    (which exercises the backend's collectives: the GPU selfcheck's one-GPU path)."""
    return bool(os.environ.get("WORLD_SIZE"))


def join(device: str = "cpu") -> Ranks:
    """This process's `Ranks`: SINGLE outside a multi-process launch; else join the process group with the
    backend the device needs (nccl on CUDA, each rank on the GPU of its local rank; gloo on CPU)."""
    if not launched():
        return SINGLE
    missing = [v for v in LAUNCH_VARIABLES if not os.environ.get(v)]
    if missing:
        raise UsageError(f"WORLD_SIZE is set but {', '.join(missing)} not: launch with torchrun, or unset WORLD_SIZE")
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available() or local_rank >= torch.cuda.device_count():
            raise UsageError(f"rank {rank} (local rank {local_rank}) has no GPU of its own: launch at most "
                             f"{torch.cuda.device_count()} processes per node (--nproc-per-node)")  # fmt: skip
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        _collective(lambda: dist.init_process_group(backend, timeout=TIMEOUT))
    return Ranks(rank, world, local_rank, local_world, backend)


def leave(ranks: Ranks) -> None:
    """Leave the process group (a no-op for a single process)."""
    if ranks.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _collective(call: Callable[[], Any]) -> Any:
    """Run a collective; a peer that stopped or cannot be reached is one RanksError, not a backend traceback."""
    try:
        return call()
    except RuntimeError as exc:  # torch.distributed.DistBackendError and the store's errors derive from it
        if isinstance(exc, SwinprofError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RanksError(f"lost contact with another rank ({first[:200]}): it stopped or cannot be reached; no "
                         "report was written (with -o, --resume continues the run)") from exc  # fmt: skip


def first_difference(before: Any, now: Any, where: str = "") -> tuple[str, str, str] | None:
    """`(key, before, now)` for the first place two plans (nested dicts of JSON values) differ, nested keys joined
    by dots and values shortened for one line; None when they are the same. Shared by the ranks' agreement and the
    resume journal's check."""
    if isinstance(before, dict) and isinstance(now, dict):
        for key in dict.fromkeys([*before, *now]):
            found = first_difference(before.get(key), now.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    return None if before == now else (where or "the plan", _short(before), _short(now))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
