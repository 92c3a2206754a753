"""The memory meters. Every memory number swinprof prints comes from here, under one of two names.

- **tensor peak** (`TENSOR_PEAK`): the high-water mark of bytes held by live tensor storages that were
  allocated while the meter ran. Views share their base's storage and are not counted; tensors that existed
  before (weights, the input) are excluded unless `track()`ed. On CPU (and the meta device) it is counted by a
  `TorchDispatchMode`: the CPU analogue of `torch.cuda.max_memory_allocated`, which it is on CUDA.
- **process peak** (`PROCESS_PEAK_CPU` / `PROCESS_PEAK_CUDA`): what the operating system or the CUDA driver
  saw: the peak resident set (VmHWM) of the process on CPU, `torch.cuda.max_memory_reserved` on CUDA. It
  includes the interpreter, the weights and the allocator's slack, so comparisons run each configuration in a
  fresh process (`swinprof.measure.isolated`) under a fixed allocator setting (`ALLOCATOR_ENV`).
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

TENSOR_PEAK = "tensor peak (live storage bytes)"
PROCESS_PEAK_CPU = "process peak (peak RSS of a fresh process)"
PROCESS_PEAK_CUDA = "process peak (CUDA reserved)"

Classifier = Callable[[torch.Tensor], "str | None"]


def process_peak_meter(device: torch.device | str) -> str:
    return PROCESS_PEAK_CUDA if torch.device(device).type == "cuda" else PROCESS_PEAK_CPU


def fresh_outputs(func, out) -> list[torch.Tensor]:
    """The outputs of `func` that are new allocations: returns without alias annotations in the op's schema.

    A view (`t`, `view`, `transpose`) or an in-place/out= op returns a tensor that shares an existing storage,
    possibly one that was never ours (a weight), so it is never counted as an allocation.
    """
    outs = out if isinstance(out, (tuple, list)) else (out,)
    returns = getattr(func, "_schema", None)
    returns = returns.returns if returns is not None else ()
    fresh = []
    for i, t in enumerate(outs):
        if not isinstance(t, torch.Tensor):
            continue
        if i < len(returns) and returns[i].alias_info is not None:
            continue
        fresh.append(t)
    return fresh


class TensorPeak(TorchDispatchMode):
    """The tensor-peak meter: bytes of live storages allocated under the mode (or `track`ed).

    `current` / `peak` are bytes now and at the high-water mark; `tag_current` / `tag_peak` do the same per tag
    (from `classify`, e.g. attention scores). Storages are keyed by identity and released by a weakref
    finaliser when torch frees them, so the count follows the allocator's own lifetime rules.
    """

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
        self.observe(func, out)
        return out

    def observe(self, func, out) -> int:
        """Account for the fresh outputs of one aten call; returns the bytes it allocated."""
        before = self.current
        for t in fresh_outputs(func, out):
            self._add(t, None)
        return self.current - before

    def track(self, tensors: Iterable[torch.Tensor], tag: str | None = None) -> int:
        """Count already existing tensors (parameters, optimizer state, inputs). Returns the bytes added."""
        before = self.current
        for t in tensors:
            if isinstance(t, torch.Tensor):
                self._add(t, tag)
        return self.current - before

    def reset_peak(self) -> None:
        """Start a new high-water mark from what is alive now."""
        self.peak = self.current
        self.tag_peak = defaultdict(int, self.tag_current)

    def _add(self, t: torch.Tensor, tag: str | None) -> None:
        if t.is_sparse:
            return
        storage = t.untyped_storage()
        key = id(storage)
        if key in self._live:
            return
        if tag is None and self.classify is not None:
            tag = self.classify(t)
        nbytes = storage.nbytes()
        self._live[key] = (nbytes, tag)
        self.current += nbytes
        self.peak = max(self.peak, self.current)
        if tag is not None:
            self.tag_current[tag] += nbytes
            self.tag_peak[tag] = max(self.tag_peak[tag], self.tag_current[tag])
        # torch keeps one PyObject per live storage, so this fires when the storage itself is freed.
        weakref.finalize(storage, self._free, key)

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


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
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


def forward_meter(fn: Callable[[], object], classify: Classifier | None = None, grad: bool = False) -> TensorPeak:
    """The `TensorPeak` meter (CPU/meta) of one call of `fn`, after one untimed warm-up call.

    What `forward_tensor_peak` reads its CPU number from; `classify` adds per-tag peaks (attention scores)
    without changing `peak`. Runs under `torch.inference_mode()`, or with autograd on (`grad=True`).
    """
    with torch.enable_grad() if grad else torch.inference_mode():
        fn()
        meter = TensorPeak(classify)
        with meter:
            result = fn()
        del result
    return meter


def forward_tensor_peak(fn: Callable[[], object], device: torch.device | str = "cpu", grad: bool = False) -> int:
    """Tensor peak (bytes) of one call of `fn`, the way every command measures "one forward".

    Runs under `torch.inference_mode()` (or with autograd on, `grad=True`, for a training call), after one
    untimed warm-up call, so caches a model fills on its first call (shift masks, gather indices) are not
    counted and the number does not depend on what ran before. CPU/meta: the `TensorPeak` meter (the output
    is included, weights and the input are not; see `forward_meter`). CUDA: `torch.cuda.max_memory_allocated`
    above the bytes allocated before the call.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return forward_meter(fn, grad=grad).peak
    with torch.enable_grad() if grad else torch.inference_mode():
        fn()
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        del result
        return torch.cuda.max_memory_allocated(device) - before


def read_process_peak(device: torch.device | str = "cpu") -> int | None:
    """Process peak (bytes) so far: VmHWM of this process on CPU (Linux), `max_memory_reserved` on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_reserved(device)
    return _status_bytes("VmHWM")


def read_process_current(device: torch.device | str = "cpu") -> int | None:
    """Bytes the process holds now: VmRSS on CPU (Linux), `memory_reserved` on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.memory_reserved(device)
    return _status_bytes("VmRSS")


def _status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
