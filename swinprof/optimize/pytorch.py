"""The PyTorch runtime: the recipe's method applied to the module, cast to the target precision (or run in
torch.autocast at it), compiled if asked.

A precision below fp32 on a CPU runs only where the CPU computes it natively (`swinprof.measure.native`): PyTorch
emulates bf16 elsewhere, converting around every op, and that is slower than fp32, so the recipe stops before any
work and names the missing feature.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from swinprof.errors import DeviceUnavailableError
from swinprof.measure.device import resolve_dtype
from swinprof.measure.environment import cpu_features
from swinprof.measure.native import cpu_support
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


class Autocast(nn.Module):
    """`inner` run in torch.autocast at `dtype` on fp32 images `(B, 3, H, W)`, returning fp32 logits `(B, classes)`.

    Linears, matmuls and convs run in `dtype`, LayerNorm and softmax in fp32, the weights stay fp32 (eager casts
    them every call). Being a module, torch.compile traces the autocast region into its graph, and with freezing
    inductor folds each weight's cast into one `dtype` constant (prepacked on a CPU with native bf16)."""

    def __init__(self, inner: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.device_type, self.dtype = inner, device_type, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.inner(x).float()


def check_precision(recipe: Recipe) -> None:
    """Machine check: a precision below fp32 on a CPU only where it computes that precision natively (one line,
    exit 2, naming the missing feature)."""
    t = recipe.target
    if t.device != "cpu" or t.precision == "fp32":
        return
    found = cpu_support(t.precision)
    if not found.native:
        raise DeviceUnavailableError(
            f"recipe {recipe.name!r}: {t.precision} does not run natively on this CPU ({found.note}; this CPU has "
            f"{cpu_features()}): run fp32 here, e.g. fp32-eager or compile-inductor"
        )


PYTORCH = RuntimeSpec(
    devices=("cpu", "cuda"), summary="PyTorch eager, or torch.compile with [compile]", compiles=True, dispatcher=True,
    autocasts=True, check=check_precision,
    candidates=("compile-inductor", "bf16-autocast-cpu", "compile-inductor-bf16-cpu", "compile-inductor-bf16"),
    title="PyTorch", packages=("torch",), count_quantized=count_pytorch,
    count_evidence="oneDNN int8 GEMMs in inductor's generated code (PT2E), torchao quantized weight tensors; 0 for "
    "PT2E run eagerly (an fp32 simulation)",
    size_meter="torch.save(state_dict) bytes; PT2E: the tensors the int8 graph reads",
    gap_role={"fp32": OWN, "int8": OWN}, selfcheck="recipe int8-dynamic",
    tested_by="tests/optimize/test_compile_inductor.py::test_one_frozen_graph_with_prepacked_linears_matches_eager",
)  # fmt: skip


@register_runtime("pytorch", PYTORCH)
def prepare_pytorch(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Cast to the target precision (unless it runs in autocast), apply the method to the module, then
    torch.compile it if asked."""
    c, t = recipe.compile, recipe.target
    dtype = resolve_dtype(t.precision)
    cast = dtype != torch.float32 and not t.autocast
    work = copy.deepcopy(model).to(dtype) if cast else model
    q = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, work, calibration, workdir))
    size = q.size_bytes if q.size_bytes is not None else state_dict_bytes(q.work)
    module, notes = q.work, list(q.notes)
    if t.autocast:
        module = Autocast(q.work, t.device, dtype)
        frozen = c.backend != "none" and c.freezing
        notes.append(f"torch.autocast({t.device!r}, {dtype}): linears, matmuls and convs in {t.precision}, LayerNorm "
                     "and softmax in fp32; weights fp32 in the state dict, cast "
                     + ("once, frozen into the compiled graph" if frozen else "at every call"))  # fmt: skip
    fn = compile_model(module, c.backend, c.mode, c.freezing, c.fullgraph, c.dynamic_batch)
    compiled = fn if isinstance(fn, CompiledModel) else None
    if cast:
        fn = _CastInput(fn, dtype)
    return Prepared(recipe.name, fn, 0.0, size, q.layers, notes=notes, compiled=compiled)
