"""Run one measurement in a fresh interpreter, so that its process peak is its own.

A process peak (peak RSS) counts everything the process ever held: what an earlier configuration left in the
allocator shows up in the next one. Comparisons (memory options, recipes) therefore run each configuration as
a job `module:function(**kwargs)` in a new `python -m swinprof.measure.isolated`, which returns the function's
JSON result plus the child's peak RSS.

The child's allocator is fixed by `ALLOCATOR_ENV`: glibc's default mmap threshold adapts upwards after large
frees, after which freed tensor memory stays in the heap and never leaves the resident set, so a saving in
tensor bytes (activation checkpointing) can even raise RSS. With the threshold pinned at 128 KiB every tensor
larger than that is its own mapping, returned to the OS when freed, and the process peak follows the tensor
peak. Reports say which setting was used (`ALLOCATOR_NOTE`). The child dies with its parent, and imports the
same swinprof as its parent (its folder goes first on the child's PYTHONPATH), whatever the working directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swinprof.errors import SwinprofError

ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}
ALLOCATOR_NOTE = (
    "each configuration ran in a fresh process with glibc malloc pinned to MALLOC_MMAP_THRESHOLD_=131072 "
    "(allocations over 128 KiB are mmapped and returned to the OS when freed, so RSS follows live tensors; "
    "under glibc's adaptive default, freed activations stay resident)"
)
_PR_SET_PDEATHSIG = 1
# The folder holding this swinprof package: the child must run the parent's code, not another installed copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class IsolatedResult:
    """The job's JSON value, the child's peak RSS (bytes; None off Linux) and its wall time (s)."""

    value: Any
    process_peak_bytes: int | None
    wall_s: float


def die_with_parent() -> None:
    """`preexec_fn` for workers: the kernel kills the child when the parent dies (Linux), so nothing is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_isolated(
    target: str,
    kwargs: dict,
    allocator_env: dict[str, str] | None = ALLOCATOR_ENV,
    timeout: float | None = None,
) -> IsolatedResult:
    """Call `target` ("package.module:function") with `kwargs` (JSON-able) in a fresh interpreter.

    `allocator_env` is added to the child's environment (None: inherit this process's). A `SwinprofError`
    raised in the child is raised here with the same message; any other failure becomes one SwinprofError line.
    """
    env = {**os.environ, **(allocator_env or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="swinprof-job-") as tmp:
        out = Path(tmp) / "result.json"
        job = json.dumps({"target": target, "kwargs": kwargs, "result": str(out)})
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "swinprof.measure.isolated"], input=job, capture_output=True, text=True,
                env=env, timeout=timeout, preexec_fn=die_with_parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:  # the child is killed; what it had said goes below the line
            said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            tail = "\n".join(said.strip().splitlines()[-30:])
            detail = f"\n--- its stderr (last lines) ---\n{tail}" if tail else ""
            raise SwinprofError(f"measurement {target} did not finish within {timeout:.0f} s{detail}") from None
        wall = time.perf_counter() - start
        data = json.loads(out.read_text()) if out.exists() else None
    if data is not None and "error" in data:
        raise SwinprofError(data["error"])
    if proc.returncode != 0 or data is None:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SwinprofError(f"measurement process for {target} failed (exit {proc.returncode}): {last}")
    return IsolatedResult(data["value"], data["process_peak_bytes"], wall)


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def main() -> int:
    from swinprof.measure.memory import read_process_peak

    job = json.loads(sys.stdin.read())
    result = Path(job["result"])
    try:
        value = _resolve(job["target"])(**job["kwargs"])
    except SwinprofError as exc:
        result.write_text(json.dumps({"error": str(exc)}))
        return 2
    result.write_text(json.dumps({"value": value, "process_peak_bytes": read_process_peak("cpu")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
