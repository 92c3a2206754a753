"""What this machine can give a run, read before the run starts: available memory.

Commands compare an estimate of what a request needs (`swinprof.profile.footprint`) with what the kernel says is
available, so `--batch 1000000000` or `--res 16384` is one clear line instead of minutes of swapping and an
out-of-memory kill.
"""

from __future__ import annotations

from swinprof.errors import ResourceError

GIB = 2**30


def available_memory_bytes() -> int | None:
    """`MemAvailable` of /proc/meminfo (what can be allocated without swapping), or None where it is unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require_memory(needed_bytes: int, what: str, hint: str = "use a smaller --batch or --res") -> None:
    """Raise ResourceError when `needed_bytes` (an estimate of the whole request) exceeds the available memory."""
    available = available_memory_bytes()
    if available is not None and needed_bytes > available:
        raise ResourceError(
            f"{what} needs an estimated {needed_bytes / GIB:,.1f} GiB of memory but {available / GIB:,.1f} GiB "
            f"is available here: {hint}"
        )
