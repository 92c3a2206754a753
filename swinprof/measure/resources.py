"""What this machine can give a run, read before the run starts: available memory.

Commands compare an estimate of what a request needs (`swinprof.profile.footprint`) with what the kernel (or, for
a CUDA device, the driver) says is available, so `--batch 1000000000` or `--res 16384` is one clear line instead
of minutes of swapping and an out-of-memory kill.
"""

from __future__ import annotations

from pathlib import Path

from swinprof.errors import ResourceError

GIB = 2**30


CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 writes "no limit" as a huge number near 2**63; anything past this is no limit.
_NO_LIMIT = 2**60


def available_memory_bytes(device: str = "cpu") -> int | None:
    """What can be allocated without swapping or being killed: on `cpu`, `MemAvailable` of /proc/meminfo lowered
    to the headroom of this process's memory cgroup (a container or CI job limit) where there is one; on `cuda[:N]`,
    the device's free memory. None where it is unknown."""
    if str(device).startswith("cuda"):
        return _cuda_free(str(device))
    known = [b for b in (_meminfo_available(), cgroup_headroom_bytes()) if b is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_headroom_bytes(root: Path = CGROUP_ROOT) -> int | None:
    """Limit minus usage of the memory cgroup mounted at `root` (v2 `memory.max`/`memory.current`, else v1
    `memory/memory.limit_in_bytes`/`memory.usage_in_bytes`); None without a limit or where unreadable."""
    for limit_file, usage_file in (
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ):
        try:
            limit_text, usage_text = limit_file.read_text().strip(), usage_file.read_text().strip()
        except OSError:
            continue
        if limit_text == "max":
            return None
        try:
            limit, usage = int(limit_text), int(usage_text)
        except ValueError:
            return None
        return None if limit >= _NO_LIMIT else max(limit - usage, 0)
    return None


def _cuda_free(device: str) -> int | None:
    """Free memory of a CUDA device as the driver reports it (other processes' use included)."""
    import torch

    if not torch.cuda.is_available():
        return None  # the device check that follows says so, in its own words
    try:
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    except (RuntimeError, ValueError):
        return None


def require_memory(
    needed_bytes: int, what: str, hint: str = "use a smaller --batch or --res", device: str = "cpu"
) -> None:
    """Raise ResourceError when `needed_bytes` (an estimate of the whole request) exceeds the memory available on
    `device`."""
    available = available_memory_bytes(device)
    if available is not None and needed_bytes > available:
        where = "" if str(device) == "cpu" else f"{device} "
        raise ResourceError(
            f"{what} needs an estimated {needed_bytes / GIB:,.1f} GiB of {where}memory but "
            f"{available / GIB:,.1f} GiB is available here: {hint}"
        )
