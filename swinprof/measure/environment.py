"""The environment record: what every measurement depends on, recorded once per command, in one shape.

Versions, hardware (CPU model and vector features, GPU), threads, the allocator settings that decide what
process memory looks like, git state and time. Every Report carries it; results files store it.
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Environment variables that change how memory is allocated (and so what a process peak means).
ALLOCATOR_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_ARENA_MAX",
    "LD_PRELOAD",
    "PYTORCH_CUDA_ALLOC_CONF",
    "PYTORCH_ALLOC_CONF",
)
# The CPU features a Swin user's numbers depend on: vector width, FMA, int8 and bf16 dot products.
_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "asimd", "sve")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's `key: value` lines of /proc/cpuinfo (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if info:
                        break
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def processor_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (MHz; the nominal one in most VMs), or None."""
    try:
        return float(_cpuinfo().get("cpu MHz", ""))
    except ValueError:
        return None


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (x86 `flags`, Arm `Features`)."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def cpu_features() -> str:
    """The flags that matter for our kernels, e.g. `avx2 fma` (no VNNI, no AMX)."""
    flags = cpu_flags()
    return " ".join(f for f in _FEATURES if f in flags) or "unknown"


def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    """`(sha, dirty)` of the git checkout at `cwd`, or `(None, None)` outside one."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def allocator_settings() -> str:
    """The allocator variables set in this process, e.g. `MALLOC_MMAP_THRESHOLD_=131072`, or `glibc defaults`."""
    items = [f"{k}={os.environ[k]}" for k in ALLOCATOR_VARIABLES if os.environ.get(k)]
    return ", ".join(items) or "defaults (no allocator variables set)"


def load_average() -> float | None:
    """The 1-minute load average (runnable + waiting tasks), or None where the OS has none."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def busy_warning(env: dict, load_before: float | None = None, unaffected: str = "") -> list[str]:
    """A warning when the CPU had more runnable work than cores at the start or the end of a timed measurement.

    `env` is `environment()` taken at the end. Timing on a shared CPU is then unreliable, even interleaved
    (the ratios too: the other load is not constant); `unaffected` names what in the report does not depend on
    load (e.g. "the memory meters"). On CUDA the GPU is timed, so no warning.
    """
    cores, load_after = env.get("cpu_count") or 1, env.get("load_1min")
    loads = [x for x in (load_before, load_after) if x is not None]
    if env.get("device") != "cpu" or not loads or max(loads) <= cores:
        return []
    shown = " -> ".join(f"{x:.1f}" for x in loads)
    which = "(start -> end) " if len(loads) > 1 else ""
    tail = f" ({unaffected} do not depend on load)" if unaffected else ""
    return [f"busy machine: 1-minute load {shown} {which}on {cores} cores; times and their ratios are unreliable in "
            f"this run{tail}."]  # fmt: skip


def environment(device: torch.device | str = "cpu") -> dict:
    """What a measurement depends on: versions, hardware, threads, allocator, git state, time."""
    import torch  # here, not at import: the CPU probes above are read where torch is not needed

    device = torch.device(device)
    sha, dirty = git_state(os.path.dirname(os.path.abspath(__file__)))
    load = load_average()
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "allocator": allocator_settings(),
        "load_1min": load,
        "git_sha": sha,
        "git_dirty": dirty,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
