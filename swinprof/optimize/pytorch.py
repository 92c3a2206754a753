"""The PyTorch runtime: the recipe's method applied to the module, cast to the target precision, compiled if asked."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from swinprof.measure.device import resolve_dtype
from swinprof.optimize.compile import CompiledModel, compile_model
from swinprof.optimize.methods import OWN, MethodJob, RuntimeSpec, apply_method, register_runtime
from swinprof.optimize.prepare import Prepared, state_dict_bytes
from swinprof.optimize.proof import count_pytorch
from swinprof.optimize.recipe import Recipe


class _CastInput:
    """Run a reduced-precision model on fp32 inputs and return fp32 logits."""

    def __init__(self, fn: Callable, dtype: torch.dtype) -> None:
        self.fn, self.dtype = fn, dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.to(self.dtype)).float()


PYTORCH = RuntimeSpec(
    devices=("cpu", "cuda"), summary="PyTorch eager, or torch.compile with [compile]", compiles=True, dispatcher=True,
    title="PyTorch", packages=("torch",), count_quantized=count_pytorch,
    count_evidence="oneDNN int8 GEMMs in inductor's generated code (PT2E), torchao quantized weight tensors; 0 for "
    "PT2E run eagerly (an fp32 simulation)",
    size_meter="torch.save(state_dict) bytes; PT2E: the tensors the int8 graph reads",
    gap_role={"fp32": OWN, "int8": OWN}, selfcheck="recipe int8-dynamic",
    tested_by="tests/optimize/test_compile_inductor.py::test_one_frozen_graph_with_prepacked_linears_matches_eager",
)  # fmt: skip


@register_runtime("pytorch", PYTORCH)
def prepare_pytorch(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Cast to the target precision, apply the method to the module, then torch.compile it if asked."""
    c = recipe.compile
    dtype = resolve_dtype(recipe.target.precision)
    work = copy.deepcopy(model).to(dtype) if dtype != torch.float32 else model
    q = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, work, calibration, workdir))
    size = q.size_bytes if q.size_bytes is not None else state_dict_bytes(q.work)
    fn = compile_model(q.work, c.backend, c.mode, c.freezing, c.fullgraph, c.dynamic_batch)
    compiled = fn if isinstance(fn, CompiledModel) else None
    if dtype != torch.float32:
        fn = _CastInput(fn, dtype)
    return Prepared(recipe.name, fn, 0.0, size, q.layers, notes=q.notes, compiled=compiled)
