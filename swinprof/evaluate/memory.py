"""Peak memory of one forward call: CUDA allocator peak, or the process's resident-set peak on Linux CPUs."""

from __future__ import annotations

from collections.abc import Callable

import torch


def _read_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_heap() -> None:
    """Hand memory that the allocator keeps cached back to the OS (glibc `malloc_trim`), so that the next
    forward's working set shows up as new resident pages instead of reusing already-resident ones."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_rss_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    _release_free_heap()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def forward_peak_mb(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> float | None:
    """Extra memory (MiB) at the peak of `fn(x)` above what was in use before the call.

    CUDA: `max_memory_allocated` above the allocated bytes before the call. CPU: peak RSS (VmHWM) above the RSS
    before the call, after returning cached free heap to the OS (glibc), so it approximates the forward's
    working set (activations, workspaces); None where the peak cannot be reset (non-Linux).
    """
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        before = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode():
            fn(x)
        torch.cuda.synchronize(x.device)
        return (torch.cuda.max_memory_allocated(x.device) - before) / 2**20
    if not _reset_rss_peak():
        return None
    before = _read_status_kb("VmRSS")
    with torch.inference_mode():
        fn(x)
    peak = _read_status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024
