"""Apply one recipe to an fp32 model: quantize, export, compile. Returns a callable plus what it cost.

The fp32 model is never modified: every path works on a copy (or on an exported graph / ONNX file).
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
from swinprof.optimize.compile import compile_model
from swinprof.optimize.recipe import Recipe


@dataclass
class Prepared:
    """An optimized model: `fn` maps `(B, 3, H, W)` fp32 images to `(B, classes)` logits."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    prepare_s: float
    size_bytes: int | None
    quantized_layers: list[str] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)  # files worth keeping (e.g. the ONNX model)
    notes: list[str] = field(default_factory=list)


def state_dict_bytes(module: nn.Module) -> int:
    """Size of `torch.save(module.state_dict())`: what the weights take on disk (tensor subclasses included)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


def graph_module_bytes(gm: torch.fx.GraphModule) -> int:
    """Bytes of the tensors a (PT2E-converted) graph actually reads through `get_attr` nodes.

    convert_pt2e leaves the original fp32 parameters registered on the module even where the graph now reads
    folded int8 weights; counting only what the graph uses gives the size of what would be deployed.
    """
    seen: dict[int, int] = {}
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            value = gm
            for part in node.target.split("."):
                value = getattr(value, part)
            if isinstance(value, torch.Tensor):
                seen[id(value)] = value.numel() * value.element_size()
    return sum(seen.values())


class _CastInput:
    """Run a reduced-precision model on fp32 inputs and return fp32 logits."""

    def __init__(self, fn: Callable, dtype: torch.dtype) -> None:
        self.fn, self.dtype = fn, dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.to(self.dtype)).float()


def _pytorch(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor]) -> Prepared:
    q, c = recipe.quantize, recipe.compile
    layers: list[str] = []
    notes: list[str] = []
    dtype = resolve_dtype(recipe.target.precision)
    work = copy.deepcopy(model).to(dtype) if dtype != torch.float32 else model
    if q.method in ("int8-weight-only", "int8-dynamic", "fp8-dynamic"):
        from swinprof.optimize.quantize import quantize_torchao

        work, layers = quantize_torchao(work, q.method, q.include, q.skip)
        size = state_dict_bytes(work)
    elif q.method == "pt2e-int8-x86":
        from swinprof.optimize.pt2e import quantize_pt2e_x86, resolve_reduce_range

        reduce_range = resolve_reduce_range(q.reduce_range)
        work, layers = quantize_pt2e_x86(model, calibration, q.include, q.skip, reduce_range)
        size = graph_module_bytes(work)
        notes.append(f"reduce_range={reduce_range} (7-bit activations)" if reduce_range else "reduce_range=False")
        if c.backend == "none":
            notes.append("PT2E int8 without [compile] runs the q/dq simulation eagerly: slow by design")
    else:
        size = state_dict_bytes(work)
    fn = compile_model(work, c.backend, c.mode, c.freezing, c.fullgraph)
    if dtype != torch.float32:
        fn = _CastInput(fn, dtype)
    return Prepared(recipe.name, fn, 0.0, size, layers, notes=notes)


def _onnxruntime(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    from swinprof.optimize import onnx as ox
    from swinprof.optimize.pt2e import resolve_reduce_range

    e, q = recipe.export, recipe.quantize
    img = model.config.img_size
    fp32_path = ox.export_onnx(model, workdir / f"{recipe.name}.fp32.onnx", img, e.opset, e.dynamic_batch, e.exporter)
    path, layers, notes = fp32_path, [], []
    if q.method != "none":
        reduce_range = resolve_reduce_range(q.reduce_range)
        path, layers = ox.quantize_onnx(
            fp32_path, workdir / f"{recipe.name}.onnx", q.method, model, q.include, q.skip, calibration, reduce_range
        )
        notes.append(f"ONNX Runtime {q.method}, reduce_range={reduce_range}, {len(layers)} nodes quantized")
    fn = ox.OrtModel(ox.session(path, recipe.target.device))
    notes.append("peak memory is not measurable by RSS here: ONNX Runtime allocates from its own arena")
    return Prepared(recipe.name, fn, 0.0, path.stat().st_size, layers, {"onnx": path}, notes)


def _tensorrt(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor]) -> Prepared:
    from swinprof.optimize import tensorrt as trt

    q, t = recipe.quantize, recipe.tensorrt
    work, int8 = model, q.method == "trt-int8"
    if int8:
        work = trt.calibrate_int8_modelopt(model, calibration, q.include, q.skip)
    gm = trt.compile_tensorrt(
        work,
        model.config.img_size,
        recipe.target.precision,
        int8=int8,
        max_batch=t.max_batch,
        opt_batch=max(recipe.benchmark.batch_sizes),
        workspace_gb=t.workspace_gb,
        min_block_size=t.min_block_size,
    )
    return Prepared(recipe.name, gm, 0.0, None, notes=["TensorRT engine size not measured (kept in memory)"])


def prepare(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Apply `recipe` to the fp32 eval-mode `model`; `calibration` batches feed static quantization."""
    start = time.perf_counter()
    runtime = recipe.target.runtime
    if runtime == "pytorch":
        prepared = _pytorch(recipe, model, calibration)
    elif runtime == "onnxruntime":
        prepared = _onnxruntime(recipe, model, calibration, workdir)
    else:
        prepared = _tensorrt(recipe, model, calibration)
    prepared.prepare_s = time.perf_counter() - start
    return prepared
