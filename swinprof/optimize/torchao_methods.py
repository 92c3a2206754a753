"""torchao tensor-subclass quantization (`quantize_`): int8 weight-only, int8 dynamic, fp8 dynamic.

Each method is a torchao config and its registered handler, side by side. Which `nn.Linear` layers are quantized
is decided by module-name globs (`include`, `skip`, `swinprof.optimize.selection`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable

from torch import nn

from swinprof.errors import RecipeError, require_extra
from swinprof.optimize.methods import MethodJob, MethodSpec, Quantized, register_method
from swinprof.optimize.selection import selected_modules

_TESTS = "tests/optimize/test_torchao_methods.py"
TORCHAO = MethodSpec("pytorch", ("cpu", "cuda"), extra="quant", module="torchao", kind="int8", packages=("torchao",),
                     switchable=True, tested_by=f"{_TESTS}::test_torchao_int8_fidelity")  # fmt: skip


def _torchao():
    return require_extra("torchao.quantization", "quant", "torchao quantization")


def quantize_torchao(model: nn.Module, config, include: Iterable[str] = ("*",), skip: Iterable[str] = ()):
    """A deep copy of `model` with torchao `config` applied to the selected Linears (the original stays as it is),
    and the names of those Linears."""
    ordered = selected_modules(model, include, skip)
    names = set(ordered)
    if not names:
        raise RecipeError(f"[quantize] include/skip globs select no Linear layer of the model for {config!r}")
    quantized = copy.deepcopy(model)
    _torchao().quantize_(quantized, config, filter_fn=lambda mod, fqn: isinstance(mod, nn.Linear) and fqn in names)
    return quantized, ordered


def _apply(job: MethodJob, config) -> Quantized:
    work, layers = quantize_torchao(job.work, config, job.include, job.skip)
    return Quantized(work, layers)


@register_method("int8-weight-only", dataclasses.replace(TORCHAO, summary="torchao int8 weights", weight_bits=8))
def int8_weight_only(job: MethodJob) -> Quantized:
    """Int8WeightOnlyConfig: int8 weights, floating-point activations."""
    return _apply(job, _torchao().Int8WeightOnlyConfig())


INT8_DYNAMIC = dataclasses.replace(TORCHAO, summary="torchao int8 weights + dynamic int8 activations", weight_bits=8,
                                   activation_bits=8, candidates=("int8-dynamic-bf16",))  # fmt: skip


@register_method("int8-dynamic", INT8_DYNAMIC)
def int8_dynamic(job: MethodJob) -> Quantized:
    """Int8DynamicActivationInt8WeightConfig: int8 weights, activations quantized per token at run time."""
    return _apply(job, _torchao().Int8DynamicActivationInt8WeightConfig())


FP8 = dataclasses.replace(
    TORCHAO, devices=("cuda",), min_cuda_capability=(8, 9), summary="torchao fp8 (e4m3) dynamic", kind="fp8",
    tested_by=f"{_TESTS}::test_fp8_dynamic_on_gpu",
    suggested={"target": {"precision": "bf16"}},  # fp8 matmuls take bf16 activations
    weight_bits=8, activation_bits=8, candidates=("fp8-dynamic-bf16",),
)  # fmt: skip


@register_method("fp8-dynamic", FP8)
def fp8_dynamic(job: MethodJob) -> Quantized:
    """Float8DynamicActivationFloat8WeightConfig with per-row scales: the accurate fp8 recipe for Linears on
    Ada/Hopper."""
    q = _torchao()
    return _apply(job, q.Float8DynamicActivationFloat8WeightConfig(granularity=q.PerRow()))
