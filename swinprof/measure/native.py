"""What this machine computes natively: per number format, the instructions that run it, or why it would be emulated.

"Native" means the device has instructions that compute in that format, so a recipe in it can beat fp32 there:

- fp32: always.
- int8 (x86): VNNI (AVX512-VNNI, AVX-VNNI) or AMX-INT8 multiply u8 x s8 and accumulate in int32 in one
  instruction, 4 products per 32-bit lane. AVX2 without VNNI still runs real integer kernels (vpmaddubsw +
  vpmaddwd, about 2 products per lane, u8 x s8 pairs summed in int16, hence 7-bit activations): native, at about
  half the VNNI rate. PT2E int8 was 1.47x fp32 eager on a 2-core AVX2 EPYC (README), so it is a candidate there.
  Arm: the dot-product (asimddp) or I8MM extensions.
- bf16: AVX512_BF16 (vdpbf16ps: 2 bf16 products per fp32 lane) or AMX-BF16 (tile matmuls), Arm BF16. Without them
  oneDNN and PyTorch convert bf16 to fp32 around every op: emulated, slower than fp32, so not a candidate.
- fp16: AVX512_FP16 (Sapphire Rapids and newer) or AMX-FP16; with only F16C, fp16 is a storage format converted to
  fp32 for arithmetic: emulated.
- On CUDA, by compute capability: fp16 tensor cores from 7.0, int8 tensor cores from 7.5, bf16 from 8.0 (Ampere),
  fp8 from 8.9 (Ada, Hopper).

`rate` is the GEMM throughput a format's instructions reach over fp32's on the same vector width (CPU), from the
instruction sets, not measured: what a roofline's compute ceiling is multiplied by. AMX does far more than its
floor here. The flags are read from /proc/cpuinfo (`environment.cpu_flags`); where there is none (not Linux),
every format but fp32 is reported not native, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from swinprof.measure import environment

# /proc/cpuinfo flag -> the name people read (x86 flags, then Arm `Features`).
FEATURE_NAMES = {
    "avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8", "avx512_bf16": "AVX512_BF16",
    "amx_bf16": "AMX-BF16", "avx512_fp16": "AVX512_FP16", "amx_fp16": "AMX-FP16", "avx2": "AVX2",
    "asimddp": "Arm dot product", "i8mm": "Arm I8MM", "bf16": "Arm BF16",
}  # fmt: skip
# The int8 dot-product instructions (u8 x s8 -> s32 in one instruction); without them x86 int8 uses AVX2's pairs.
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# The formats a run report names, in this order (fp8 only where a device has it: CUDA 8.9+).
PRECISIONS = ("fp32", "int8", "bf16", "fp16", "fp8")


@dataclass(frozen=True)
class _CpuRule:
    """How a CPU runs one format: the flags that run it at `rate` x fp32; a fallback flag that still runs it
    natively (at `partial_rate`, `partial_note` saying how); what a CPU without either does, in a few words
    (`lacking`, for a table cell) and in a phrase (`without`); `where`: the x86 CPUs that have the instructions."""

    full: tuple[str, ...]
    rate: float
    lacking: str
    without: str
    partial: str | None = None
    partial_rate: float = 1.0
    partial_note: str = ""
    where: str = ""


CPU_RULES = {
    "int8": _CpuRule((*INT8_DOT_FLAGS, "asimddp", "i8mm"), 4.0, "without dot products",
                     "no integer dot-product instructions", partial="avx2", partial_rate=2.0,
                     partial_note="no VNNI: u8 x s8 pairs summed in int16, 7-bit activations"),
    "bf16": _CpuRule(("avx512_bf16", "amx_bf16", "bf16"), 2.0, "emulated",
                     "emulated: converted to fp32 around every op, slower than fp32",
                     where="Intel Xeon Cooper Lake, Sapphire Rapids and newer; AMD Zen 4 and newer"),
    "fp16": _CpuRule(("avx512_fp16", "amx_fp16"), 2.0, "emulated",
                     "emulated: converted to fp32 for arithmetic, slower than fp32",
                     where="Intel Xeon Sapphire Rapids and newer"),
    "fp8": _CpuRule((), 1.0, "not on CPUs", "no CPU computes in fp8"),
}  # fmt: skip
# CUDA: the compute capability from which the format runs on tensor cores.
CUDA_CAPABILITY = {"fp16": (7, 0), "int8": (7, 5), "bf16": (8, 0), "fp8": (8, 9)}


@dataclass(frozen=True)
class Support:
    """Whether `precision` runs natively on a device. `via`: what runs it (`AVX512_BF16`, `AVX2`, `compute
    capability 9.0`); `note`: how (a slower fallback) or why it is not native; `short`: that reason in a word or
    two for a table cell; `rate`: its GEMM throughput over fp32's from the instruction set (CPU; 1.0 where not
    native and on CUDA); `whole_device`: the reason is the device's, not the format's (no GPU, unknown flags)."""

    precision: str
    native: bool
    via: str = ""
    note: str = ""
    short: str = ""
    rate: float = 1.0
    whole_device: bool = False

    @property
    def detail(self) -> str:
        """What runs it, in a few words (`AVX512_BF16`, `AVX2, no VNNI`), or why not (`bf16 emulated`)."""
        if not self.native:
            return self.short if self.whole_device else f"{self.precision} {self.short}"
        return self.via + (", no VNNI" if self.note.startswith("no VNNI") else "")

    @property
    def cell(self) -> str:
        """A table cell: `yes`, `yes (AVX2, no VNNI)`, `no (bf16 emulated)`."""
        detail = self.detail
        return f"{'yes' if self.native else 'no'} ({detail})" if detail else "yes"

    @property
    def phrase(self) -> str:
        """The format with what runs it or why not, for a report line: `int8 (AVX2; no VNNI: ...)`."""
        detail = "; ".join(x for x in (self.via, self.note) if x)
        return f"{self.precision} ({detail})" if detail else self.precision


def _names(flags) -> str:
    return ", ".join(FEATURE_NAMES[f] for f in flags)


def cpu_support(precision: str, flags: frozenset[str] | None = None) -> Support:
    """How this CPU (or one with `flags`, as /proc/cpuinfo spells them) runs `precision`."""
    if precision == "fp32":
        return Support("fp32", True, rate=1.0)
    rule = CPU_RULES.get(precision)
    if rule is None:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    flags = environment.cpu_flags() if flags is None else flags
    have = [f for f in rule.full if f in flags]
    if have:
        return Support(precision, True, _names(have), rate=rule.rate)
    if rule.partial and rule.partial in flags:
        return Support(precision, True, _names([rule.partial]), rule.partial_note, rate=rule.partial_rate)
    if not flags:
        return Support(
            precision,
            False,
            note="this CPU's features are unknown (no /proc/cpuinfo flags)",
            short="CPU features unknown",
            whole_device=True,
        )
    arm = "asimd" in flags  # name the extensions of this CPU's architecture only
    options = [f for f in rule.full if FEATURE_NAMES[f].startswith("Arm") == arm]
    needs = f"needs {' or '.join(FEATURE_NAMES[f] for f in options)}" if options else ""
    if needs and rule.where and not arm:
        needs += f": {rule.where}"
    return Support(precision, False, note=f"{rule.without}; {needs}" if needs else rule.without, short=rule.lacking)


def cuda_support(precision: str, capability: tuple[int, int]) -> Support:
    """How a CUDA GPU of compute `capability` runs `precision` (tensor cores)."""
    version = f"{capability[0]}.{capability[1]}"
    if precision == "fp32":
        return Support("fp32", True, rate=1.0)
    need = CUDA_CAPABILITY.get(precision)
    if need is None:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if capability >= need:
        return Support(precision, True, f"compute capability {version}", rate=1.0)
    return Support(
        precision,
        False,
        note=f"needs compute capability >= {need[0]}.{need[1]}; this GPU has {version}",
        short=f"needs cc {need[0]}.{need[1]}",
    )


def support(precision: str, device: str) -> Support:
    """How this machine's `device` (`cpu` or `cuda`) runs `precision`."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return Support(precision, False, note="no CUDA GPU here", short="no CUDA GPU here", whole_device=True)
        return cuda_support(precision, torch.cuda.get_device_capability())
    return cpu_support(precision)


def native_summary(device: str) -> str:
    """One line for a report header: the formats `device` computes natively, then those it would not, e.g.
    `fp32, int8 (AVX2; no VNNI: ...); not native: bf16 (emulated: ...; needs AVX512_BF16 or AMX-BF16), ...`."""
    found = [support(p, device) for p in PRECISIONS if p != "fp8" or device.startswith("cuda")]
    yes, no = [s.phrase for s in found if s.native], [s.phrase for s in found if not s.native]
    return ", ".join(yes) + (f"; not native: {', '.join(no)}" if no else "")
