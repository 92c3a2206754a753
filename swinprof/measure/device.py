"""Where code runs: device and dtype names as the command line and recipes spell them."""

from __future__ import annotations

import re

import torch

from swinprof.errors import DeviceUnavailableError, InvalidOptionError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_DEVICE_RE = re.compile(r"cpu|cuda(:\d+)?")


def is_device_name(text: str) -> bool:
    """Whether `text` is spelled as a device swinprof runs on: `cpu`, `cuda` or `cuda:N` (lower case)."""
    return _DEVICE_RE.fullmatch(text) is not None


def resolve_device(name: str | torch.device) -> torch.device:
    """`cpu`, `cuda` or `cuda:N` as a device; anything else, or CUDA on a machine without it, is a clear error."""
    text = str(name)
    if not is_device_name(text):
        raise InvalidOptionError(f"unsupported device {text!r}; choose cpu, cuda or cuda:N (lower case)")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("CUDA was requested but no CUDA GPU is available here: use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"{text} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """`fp32` / `fp16` / `bf16` (or a torch dtype) as a torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise InvalidOptionError(f"unknown dtype {name!r}; choose one of: {', '.join(DTYPES)}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.float32` -> `fp32` (the names the command line uses)."""
    return next((k for k, v in DTYPES.items() if v == dtype), str(dtype).removeprefix("torch."))


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on CPU): every CUDA measurement brackets its work with this."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
