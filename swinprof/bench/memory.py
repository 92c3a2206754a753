"""Peak memory of one call, measured the same way for every implementation.

CUDA: `torch.cuda.max_memory_allocated` above the level before the call. CPU (no allocator statistics):
a dispatch mode that counts the bytes of every storage produced by an aten op while it is alive (views
share their base's storage and are not counted twice); the peak of that sum is the call's activation
peak. Tensors that existed before the call (weights, the input) and scratch buffers a kernel allocates
internally without dispatching an op are not included.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveBytes(TorchDispatchMode):
    """Tracks bytes of storages produced inside the mode; `peak` is the high-water mark."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, list[int]] = {}  # storage data_ptr -> [nbytes, tracked tensors alive]
        self._tracked: set[int] = set()  # id() of tracked tensors still alive (in-place ops return them again)

    def _release(self, key: int, tensor_id: int) -> None:
        self._tracked.discard(tensor_id)
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self._refs[key]

    def _track(self, t: torch.Tensor) -> None:
        if id(t) in self._tracked or t.device.type == "meta":
            return
        storage = t.untyped_storage()
        key, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0:
            return
        self._tracked.add(id(t))
        entry = self._refs.setdefault(key, [nbytes, 0])
        if entry[1] == 0:
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        entry[1] += 1
        weakref.finalize(t, self._release, key, id(t))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out


def peak_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak bytes allocated by one call of `fn` (see module docstring for what is counted)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    mode = LiveBytes()
    with mode:
        result = fn()
    del result
    return mode.peak
