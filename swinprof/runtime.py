"""Where code runs: device and dtype resolution, and the environment recorded with every measurement."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess

import torch

from swinprof.errors import DeviceUnavailableError, SwinprofError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str | torch.device) -> torch.device:
    """`cpu`, `cuda` or `cuda:N` as a device; CUDA on a machine without it is a clear error."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError("CUDA was requested but no CUDA GPU is available here: use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise SwinprofError(f"unsupported device {str(name)!r}; choose cpu or cuda")
    return device


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """`fp32` / `fp16` / `bf16` (or a torch dtype) as a torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise SwinprofError(f"unknown dtype {name!r}; choose one of: {', '.join(DTYPES)}")
    return DTYPES[name]


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def environment(device: torch.device | str = "cpu") -> dict:
    """What a measurement depends on: versions, hardware, threads, git state, time."""
    device = torch.device(device)
    sha, dirty = git_state(os.path.dirname(os.path.abspath(__file__)))
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "git_sha": sha,
        "git_dirty": dirty,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return env
