"""Apply one recipe to an fp32 model through the registry, and the PyTorch runtime's handler.

`prepare` looks up the recipe's runtime (`swinprof.optimize.methods`); the runtime builds its form of the model
and calls the recipe's quantization method on it. The fp32 model is never modified: every path works on a copy
(or on an exported graph / ONNX file).
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from swinprof.measure.device import resolve_dtype
from swinprof.optimize.compile import CompiledModel, compile_model
from swinprof.optimize.methods import MethodJob, RuntimeSpec, apply_method, get_runtime, register_runtime
from swinprof.optimize.recipe import Recipe


@dataclass
class Prepared:
    """An optimized model: `fn` maps `(B, 3, H, W)` fp32 images to `(B, classes)` logits.

    `compiled` is the torch.compile wrapper inside `fn` when the recipe compiles (its `stats()` say what dynamo
    did); `artifacts` are files worth keeping (e.g. the ONNX model), by kind.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    prepare_s: float
    size_bytes: int | None
    quantized_layers: list[str] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    compiled: CompiledModel | None = None


def state_dict_bytes(module: nn.Module) -> int:
    """Size of `torch.save(module.state_dict())`: what the weights take on disk (tensor subclasses included)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


class _CastInput:
    """Run a reduced-precision model on fp32 inputs and return fp32 logits."""

    def __init__(self, fn: Callable, dtype: torch.dtype) -> None:
        self.fn, self.dtype = fn, dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.to(self.dtype)).float()


PYTORCH = RuntimeSpec(
    devices=("cpu", "cuda"), summary="PyTorch eager, or torch.compile with [compile]", compiles=True, dispatcher=True
)


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


def with_attention(model: nn.Module, impl: str) -> nn.Module:
    """`model` itself, or a copy running attention implementation `impl` with the same weights when the recipe's
    `[model] attn_impl` names another one (one run builds one model: e.g. compile-inductor-fused beside the
    reference baseline)."""
    current = getattr(model, "attn_impl", impl)
    return model if current == impl else copy.deepcopy(model).set_attn_impl(impl)


def prepare(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Apply `recipe` to the fp32 eval-mode `model` (with the recipe's attention implementation); `calibration`
    batches feed static quantization."""
    start = time.perf_counter()
    own = with_attention(model, recipe.model.attn_impl)
    prepared = get_runtime(recipe.target.runtime).handler(recipe, own, calibration, workdir)
    if own is not model:
        prepared.notes.append(f"attention {recipe.model.attn_impl} (the model was built with {model.attn_impl})")
    prepared.prepare_s = time.perf_counter() - start
    return prepared
