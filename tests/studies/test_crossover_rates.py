"""The crossover's roofline ceiling per recipe: the compute rate of its operand format on this device, read from
the CPU features the map's environment recorded (bf16 doubles the fp32 ceiling only where it is native)."""

from __future__ import annotations

import pytest

from swinprof.optimize.presets import get_recipe
from swinprof.studies.crossover_report import EIGHT_BIT_RATE_GPU, compute_rate


@pytest.mark.parametrize(
    ("recipe", "features", "rate"),
    [
        ("int8-x86-cpu", "avx2 fma", 2.0),  # AVX2 pairs, no VNNI
        ("int8-x86-cpu", "avx2 fma avx512f avx512_vnni", 4.0),
        ("bf16-autocast-cpu", "avx2 fma avx512f avx512_vnni avx512_bf16", 2.0),
        ("bf16-autocast-cpu", "avx2 fma", 1.0),  # emulated: no faster than fp32's ceiling
        ("compile-inductor", "avx2 fma avx512f avx512_bf16 amx_bf16", 1.0),  # fp32 operands
        ("int8-weight-only", "avx2 fma avx512f avx512_vnni", 1.0),  # fp32 activations: the GEMM runs in fp32
    ],
)
def test_cpu_rate_follows_the_operands_and_the_recorded_features(recipe, features, rate):
    assert compute_rate("cpu", features, get_recipe(recipe)) == rate


def test_cuda_rate_is_the_published_8_bit_one_over_bf16():
    assert compute_rate("cuda", "", get_recipe("int8-dynamic-bf16")) == EIGHT_BIT_RATE_GPU
    assert compute_rate("cuda", "", get_recipe("compile-inductor-bf16")) == 1.0
