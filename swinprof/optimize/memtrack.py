"""Live-tensor memory accounting that works on any device (CPU included), via a TorchDispatchMode.

Every op's output storage is recorded once with its byte size and a weakref finaliser that subtracts it
when the storage is freed, so `current` is the bytes of tensor storages alive now and `peak` their high-water
mark. Only storages created under the mode or registered with `track` are counted: that is what makes rows
comparable (the same method for every configuration) and lets a caller leave unrelated tensors out.
It counts tensor storage bytes, not allocator slack or Python objects: the CPU analogue of
`torch.cuda.memory_allocated`.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

Classifier = Callable[[torch.Tensor], "str | None"]


class LiveTensorTracker(TorchDispatchMode):
    """Bytes of live tensor storages: `current`, `peak`, and per-tag `tag_peak` (tags from `classify`)."""

    def __init__(self, classify: Classifier | None = None) -> None:
        super().__init__()
        self.classify = classify
        self._live: dict[int, tuple[int, str | None]] = {}
        self.current = 0
        self.peak = 0
        self.tag_current: dict[str, int] = defaultdict(int)
        self.tag_peak: dict[str, int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._add(t, None)
        return out

    def track(self, tensors: Iterable[torch.Tensor], tag: str | None = None) -> int:
        """Count already existing tensors (parameters, optimizer state, inputs). Returns the bytes added."""
        before = self.current
        for t in tensors:
            self._add(t, tag)
        return self.current - before

    def reset_peak(self) -> None:
        self.peak = self.current
        self.tag_peak = defaultdict(int, self.tag_current)

    def _add(self, t: torch.Tensor, tag: str | None) -> None:
        if t.device.type == "meta" or t.is_sparse:
            return
        storage = t.untyped_storage()
        key = id(storage)
        nbytes = storage.nbytes()
        entry = self._live.get(key)
        if entry is not None:
            if entry[0] != nbytes:  # resized in place (e.g. an out= op): account for the new size
                self._free(key)
                self._insert(key, nbytes, entry[1])
            return
        if tag is None and self.classify is not None:
            tag = self.classify(t)
        self._insert(key, nbytes, tag)
        # Storage PyObjects are preserved by torch, so this fires when the storage itself is freed.
        weakref.finalize(storage, self._free, key)

    def _insert(self, key: int, nbytes: int, tag: str | None) -> None:
        self._live[key] = (nbytes, tag)
        self.current += nbytes
        self.peak = max(self.peak, self.current)
        if tag is not None:
            self.tag_current[tag] += nbytes
            self.tag_peak[tag] = max(self.tag_peak[tag], self.tag_current[tag])

    def _free(self, key: int) -> None:
        entry = self._live.pop(key, None)
        if entry is None:
            return
        self.current -= entry[0]
        if entry[1] is not None:
            self.tag_current[entry[1]] -= entry[0]


def score_classifier(tokens: Iterable[int]) -> Classifier:
    """Tag attention score-shaped tensors `(..., heads, N, N)` (ndim >= 4, N a window's token count)."""
    sizes = frozenset(tokens)

    def classify(t: torch.Tensor) -> str | None:
        if t.ndim >= 4 and t.shape[-1] == t.shape[-2] and t.shape[-1] in sizes:
            return "scores"
        return None

    return classify


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Storage bytes of distinct tensors (views of one storage counted once)."""
    seen, total = set(), 0
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        st = t.untyped_storage()
        if id(st) not in seen:
            seen.add(id(st))
            total += st.nbytes()
    return total
