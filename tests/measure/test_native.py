"""The native-precision probe: what a CPU with given /proc/cpuinfo flags (or a GPU of given compute capability)
computes natively, and the words a report prints for it."""

from __future__ import annotations

import pytest

from swinprof.measure import environment
from swinprof.measure.native import PRECISIONS, cpu_support, cuda_support, native_summary, support


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


# /proc/cpuinfo flags of the machines the project measured on or names (the flags that matter, plus a few others).
EPYC_AVX2 = _flags("fpu sse4_2 avx f16c fma avx2 bmi2 sha_ni")  # this project's AMD EPYC VM
ZEN4 = _flags("avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 f16c")  # AMD Zen 4
XEON_VNNI = _flags("avx2 fma avx512f avx512_vnni f16c")  # Cascade Lake: VNNI, no bf16
SAPPHIRE_RAPIDS = _flags("avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_int8 amx_tile")
GRAVITON3 = _flags("fp asimd asimddp i8mm bf16 sve svebf16")


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        (EPYC_AVX2, {"fp32", "int8"}),
        (XEON_VNNI, {"fp32", "int8"}),
        (ZEN4, {"fp32", "int8", "bf16"}),
        (SAPPHIRE_RAPIDS, {"fp32", "int8", "bf16", "fp16"}),
        (GRAVITON3, {"fp32", "int8", "bf16"}),
        (frozenset(), {"fp32"}),  # no /proc/cpuinfo: nothing but fp32 is claimed
    ],
    ids=["epyc-avx2", "xeon-vnni", "zen4", "sapphire-rapids", "graviton3", "unknown"],
)
def test_which_formats_a_cpu_runs_natively(flags, native):
    assert {p for p in PRECISIONS if cpu_support(p, flags).native} == native


def test_int8_on_avx2_is_native_at_half_the_vnni_rate_and_says_so():
    avx2, vnni = cpu_support("int8", EPYC_AVX2), cpu_support("int8", XEON_VNNI)
    assert (avx2.rate, vnni.rate) == (2.0, 4.0)
    assert avx2.cell == "yes (AVX2, no VNNI)" and "7-bit activations" in avx2.note
    assert vnni.cell == "yes (AVX512-VNNI)"


def test_emulated_bf16_names_what_is_missing_for_the_cpus_architecture():
    x86 = cpu_support("bf16", EPYC_AVX2)
    assert x86.cell == "no (bf16 emulated)" and x86.rate == 1.0
    assert "slower than fp32" in x86.note and "needs AVX512_BF16 or AMX-BF16" in x86.note and "Arm" not in x86.note
    arm = cpu_support("bf16", frozenset({"fp", "asimd", "asimddp"}))
    assert arm.note.endswith("needs Arm BF16")
    unknown = cpu_support("bf16", frozenset())
    assert unknown.cell == "no (CPU features unknown)" and unknown.whole_device


def test_native_bf16_doubles_the_fp32_rate_and_names_its_instructions():
    found = cpu_support("bf16", SAPPHIRE_RAPIDS)
    assert found.native and found.rate == 2.0 and found.cell == "yes (AVX512_BF16, AMX-BF16)"


@pytest.mark.parametrize(
    ("capability", "native"),
    [((7, 5), {"fp32", "fp16", "int8"}), ((8, 0), {"fp32", "fp16", "int8", "bf16"}), ((9, 0), set(PRECISIONS))],
)
def test_cuda_formats_by_compute_capability(capability, native):
    assert {p for p in PRECISIONS if cuda_support(p, capability).native} == native
    if "bf16" not in native:
        assert cuda_support("bf16", capability).cell == "no (bf16 needs cc 8.0)"


def test_the_summary_reads_this_machines_flags(monkeypatch):
    monkeypatch.setattr(environment, "cpu_flags", lambda: EPYC_AVX2)
    line = native_summary("cpu")
    assert line.startswith("fp32, int8 (AVX2; no VNNI")
    assert "not native: bf16 (emulated" in line and "fp16 (emulated" in line and "fp8" not in line
    monkeypatch.setattr(environment, "cpu_flags", lambda: ZEN4)
    assert support("bf16", "cpu").native and native_summary("cpu").startswith("fp32, int8 (AVX512-VNNI), bf16")


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of: fp32, int8, bf16, fp16, fp8"):
        cpu_support("int4", EPYC_AVX2)
