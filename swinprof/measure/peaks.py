"""The machine's matmul peak: a short square-GEMM probe, cached per machine, dtype, threads and torch version.

Achieved GFLOP/s of a stage only means something next to what this machine can do on its best-shaped work;
a large square matmul is the practical ceiling for the GEMM-bound parts of a transformer.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from swinprof.measure.environment import cpu_model
from swinprof.measure.timing import measure
from swinprof.report.files import atomic_write_text

PROBE_SIZE = 1024  # 2 GFLOP per fp32 matmul: long enough to time, short enough to be a probe


@dataclass(frozen=True)
class GemmPeak:
    """Best GFLOP/s of an `n x n @ n x n` matmul, and whether it came from the cache."""

    gflops: float
    n: int
    dtype: str
    device: str
    key: str
    cached: bool = False


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swinprof" / "gemm_peak.json"


def machine_key(device: torch.device, dtype: torch.dtype, n: int = PROBE_SIZE) -> str:
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    dt = str(dtype).removeprefix("torch.")
    return f"{device.type}|{hw}|{dt}|n={n}|threads={torch.get_num_threads()}|torch={torch.__version__}"


def probe_gemm(device: torch.device, dtype: torch.dtype, n: int = PROBE_SIZE, iters: int = 5) -> float:
    """GFLOP/s of the fastest of `iters` timed `(n, n) @ (n, n)` matmuls after one warm-up."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    timing = measure(lambda: a @ b, warmup=1, iters=iters, device=device)
    return 2 * n**3 / (timing.min / 1e3) / 1e9


def gemm_peak(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_path: str | os.PathLike | None = None,
    refresh: bool = False,
    n: int = PROBE_SIZE,
) -> GemmPeak:
    """The cached probe for this machine, or a fresh one (stored atomically) when missing or `refresh`.

    A peak is a maximum: a refreshed probe never lowers the stored value (a probe taken while the machine
    was busy reads low, and would otherwise stay in the cache).
    """
    device = torch.device(device)
    path = Path(cache_path) if cache_path is not None else default_cache_path()
    key = machine_key(device, dtype, n)
    cache: dict = {}
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not refresh and isinstance(cache.get(key), dict):
        return GemmPeak(**{**cache[key], "cached": True})
    gflops = probe_gemm(device, dtype, n)
    old = cache.get(key)
    if isinstance(old, dict) and isinstance(old.get("gflops"), (int, float)):
        gflops = max(gflops, float(old["gflops"]))
    peak = GemmPeak(gflops, n, str(dtype).removeprefix("torch."), device.type, key)
    cache[key] = {k: v for k, v in asdict(peak).items() if k != "cached"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(cache, indent=2))
    except OSError:
        pass  # a read-only home only costs a re-probe next time
    return peak
