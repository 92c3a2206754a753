"""Machine ceilings: compute (GEMM GFLOP/s per dtype) and memory bandwidth (GB/s), measured and theoretical.

"% of peak" and a roofline only mean something next to what this machine can do. Each ceiling is the best of
several short probes, cached per machine / dtype / threads / torch version (`~/.cache/swinprof/peaks.json`),
and shown beside a theoretical value computed from the hardware (vector width, FMA pipes, cores and clock; or
the GPU's published spec), so a low probe is visible as such. A probe taken while the machine is busy (1-minute
load above the core count) is used for that run but never cached, and a cached value is a high-water mark:
re-probing never lowers it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from swinprof.files import atomic_write_text
from swinprof.measure.device import dtype_name
from swinprof.measure.environment import cpu_flags, cpu_model, load_average, processor_mhz
from swinprof.measure.native import cpu_support
from swinprof.measure.timing import measure

PROBE_SIZE = 1024  # 2 GFLOP per fp32 GEMM: long enough to time, short enough to be a probe
PROBE_ROUNDS = 3  # probes per ceiling; the best one counts
IMPLAUSIBLE = 0.4  # a probe below this share of the theoretical ceiling is not trusted enough to cache
FMA_PIPES_PER_CORE = 2  # x86 cores since Haswell / Zen 1 issue two vector FMAs per cycle
_FALLBACK_LLC_BYTES = 32 * 2**20

# Published dense peaks of common GPUs: (substring of the device name, fp32 TFLOP/s, bf16/fp16 TFLOP/s, TB/s).
_GPU_SPECS = (
    ("H200", 67.0, 989.0, 4.8),
    ("H100 PCIe", 51.0, 756.0, 2.0),
    ("H100", 67.0, 989.0, 3.35),
    ("A100-SXM4-80GB", 19.5, 312.0, 2.04),
    ("A100", 19.5, 312.0, 1.56),
    ("L40S", 91.6, 362.0, 0.864),
    ("L4", 30.3, 121.0, 0.3),
    ("A10G", 31.2, 125.0, 0.6),
    ("T4", 8.1, 65.0, 0.32),
    ("Orin", 5.3, 42.5, 0.2),
)


@dataclass(frozen=True)
class Ceiling:
    """One machine ceiling. `value` is the best probe (GFLOP/s or GB/s); `how` says how it was obtained."""

    kind: str  # "compute" or "bandwidth"
    value: float
    unit: str
    dtype: str | None
    device: str
    key: str
    how: str
    theoretical: float | None = None
    theoretical_basis: str = "unknown"
    cached: bool = False
    busy: bool = False

    @property
    def gflops(self) -> float:  # the name every table uses for a compute ceiling
        return self.value

    def describe(self) -> str:
        """`172.1 GFLOP/s fp32 (best of 3 probes ..., cached); theoretical 156.5 (2 cores x ...)`."""
        dt = f" {self.dtype}" if self.dtype else ""
        theory = f"{self.theoretical:.1f} {self.unit}" if self.theoretical else "unknown"
        return f"{self.value:.1f} {self.unit}{dt} ({self.how}); theoretical {theory} ({self.theoretical_basis})"


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swinprof" / "peaks.json"


def machine_busy() -> tuple[bool, str]:
    """(busy, description): the 1-minute load average against the core count."""
    load, cores = load_average(), os.cpu_count() or 1
    if load is None:
        return False, "load unknown"
    return load > cores, f"load {load:.1f} on {cores} cores"


def _hardware(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def _key(kind: str, device: torch.device, detail: str) -> str:
    threads = torch.get_num_threads()
    return f"{kind}|{device.type}|{_hardware(device)}|{detail}|threads={threads}|torch={torch.__version__}"


def _gpu_spec(device: torch.device) -> tuple[float, float, float] | None:
    name = torch.cuda.get_device_name(device)
    return next(((f, h, b) for sub, f, h, b in _GPU_SPECS if sub in name), None)


def theoretical_compute(device: torch.device, dtype: torch.dtype) -> tuple[float | None, str]:
    """Theoretical GFLOP/s and how it was computed. CPU: cores x lanes x 2 (FMA) x pipes x clock."""
    if device.type == "cuda":
        spec = _gpu_spec(device)
        if spec is None:
            return None, f"no published spec known for {torch.cuda.get_device_name(device)}"
        tflops = spec[0] if dtype == torch.float32 else spec[1]
        return tflops * 1e3, f"published dense {dtype_name(dtype)} peak of {torch.cuda.get_device_name(device)}"
    flags, mhz = cpu_flags(), processor_mhz()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if "fma" not in flags or not mhz:
        return None, "needs x86 FMA and a clock in /proc/cpuinfo"
    if dtype != torch.float32:
        found = cpu_support(dtype_name(dtype), flags)
        if not found.native:
            return None, f"no native {dtype_name(dtype)} FMA on this CPU ({found.note})"
        lanes = int(lanes * found.rate)
    basis_dt = "fp32 lanes" if dtype == torch.float32 else f"{found.rate:g}x fp32 lanes ({found.via})"
    cores = torch.get_num_threads()
    value = cores * lanes * 2 * FMA_PIPES_PER_CORE * mhz / 1e3
    basis = (
        f"{cores} threads x {lanes} lanes ({basis_dt}) x 2 (FMA) x {FMA_PIPES_PER_CORE} FMA pipes x "
        f"{mhz / 1e3:.2f} GHz as /proc/cpuinfo reports it (boost clocks can exceed it)"
    )
    return value, basis


def theoretical_bandwidth(device: torch.device) -> tuple[float | None, str]:
    if device.type == "cuda":
        spec = _gpu_spec(device)
        if spec is None:
            return None, f"no published spec known for {torch.cuda.get_device_name(device)}"
        return spec[2] * 1e3, f"published HBM/DRAM bandwidth of {torch.cuda.get_device_name(device)}"
    return None, "DRAM channels and speed are not visible from a CPU (or a VM)"


def probe_gemm(device: torch.device, dtype: torch.dtype, n: int = PROBE_SIZE, iters: int = 5) -> float:
    """GFLOP/s of the fastest of `iters` timed `(n, n) @ (n, n)` matmuls after one warm-up."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    timing = measure(lambda: a @ b, warmup=1, iters=iters, device=device)
    return 2 * n**3 / (timing.min / 1e3) / 1e9


def _llc_bytes() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
        return int(text.rstrip("K")) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return _FALLBACK_LLC_BYTES


def triad_bytes(device: torch.device) -> int:
    """Bytes of each triad array: 4x the last-level cache on CPU (so it streams from DRAM), 256 MiB on GPU."""
    return 256 * 2**20 if device.type == "cuda" else max(4 * _llc_bytes(), 64 * 2**20)


def probe_triad(device: torch.device, nbytes: int, iters: int = 10) -> float:
    """GB/s of the fastest of `iters` STREAM-triad-like `a = b + s * c` passes over fp32 arrays of `nbytes`.

    Bytes moved per pass: 3 x nbytes (two arrays read, one written), as STREAM counts it.
    """
    n = nbytes // 4
    b, c = torch.rand(n, device=device), torch.rand(n, device=device)
    a = torch.empty(n, device=device)
    timing = measure(lambda: torch.add(b, c, alpha=0.5, out=a), warmup=2, iters=iters, device=device)
    return 3 * n * 4 / (timing.min / 1e3) / 1e9


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _probe_and_cache(
    kind, key, probe, path: Path, refresh: bool, describe: str, theoretical: float | None
) -> tuple[float, str, bool, bool]:
    """(value, how, cached, busy): the cached high-water mark, or the best of PROBE_ROUNDS fresh probes.

    A fresh probe is not cached when the machine is busy, nor when it reads below `IMPLAUSIBLE` of the
    theoretical ceiling (tuned GEMMs and triads reach well above that on a quiet machine).
    """
    cache = _load_cache(path)
    old = cache.get(key) if isinstance(cache.get(key), dict) else None
    if old is not None and not refresh and isinstance(old.get("value"), (int, float)):
        return float(old["value"]), f"{describe}, cached {old.get('when', '')}".rstrip(), True, False
    busy, load = machine_busy()
    value = max(probe() for _ in range(PROBE_ROUNDS))
    how = f"best of {PROBE_ROUNDS} probes of {describe}, {load}"
    if busy:
        return value, how + ": machine busy, not cached (may read low)", False, True
    if theoretical and value < IMPLAUSIBLE * theoretical:
        return value, how + f": below {IMPLAUSIBLE:.0%} of theoretical, not cached (machine busy?)", False, True
    if old is not None and isinstance(old.get("value"), (int, float)) and float(old["value"]) > value:
        return float(old["value"]), f"{describe}, cached {old.get('when', '')} (a re-probe read lower)", True, False
    import datetime

    cache[key] = {"value": value, "kind": kind, "when": datetime.date.today().isoformat(), "how": how}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(cache, indent=2))
    except OSError:
        pass  # a read-only home only costs a re-probe next time
    return value, how, False, False


def compute_ceiling(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_path: str | os.PathLike | None = None,
    refresh: bool = False,
    n: int = PROBE_SIZE,
) -> Ceiling:
    """The GEMM ceiling of this machine in `dtype` (GFLOP/s), with its theoretical value beside it."""
    device = torch.device(device)
    path = Path(cache_path) if cache_path is not None else default_cache_path()
    key = _key("gemm", device, f"{dtype_name(dtype)}|n={n}")
    describe = f"a {n}^3 {dtype_name(dtype)} GEMM"
    theory, basis = theoretical_compute(device, dtype)
    value, how, cached, busy = _probe_and_cache("compute", key, lambda: probe_gemm(device, dtype, n), path, refresh,
                                                describe, theory)  # fmt: skip
    return Ceiling("compute", value, "GFLOP/s", dtype_name(dtype), device.type, key, how, theory, basis, cached, busy)


def bandwidth_ceiling(
    device: torch.device | str = "cpu", cache_path: str | os.PathLike | None = None, refresh: bool = False
) -> Ceiling:
    """The memory-bandwidth ceiling of this machine (GB/s, triad), with its theoretical value where known."""
    device = torch.device(device)
    path = Path(cache_path) if cache_path is not None else default_cache_path()
    nbytes = triad_bytes(device)
    key = _key("triad", device, f"{nbytes // 2**20}MiB")
    describe = f"a triad over 3 x {nbytes // 2**20} MiB fp32 arrays"
    theory, basis = theoretical_bandwidth(device)
    value, how, cached, busy = _probe_and_cache("bandwidth", key, lambda: probe_triad(device, nbytes), path, refresh,
                                                describe, theory)  # fmt: skip
    return Ceiling("bandwidth", value, "GB/s", None, device.type, key, how, theory, basis, cached, busy)


def as_dict(ceiling: Ceiling) -> dict:
    return asdict(ceiling)
