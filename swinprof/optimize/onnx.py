"""ONNX export (for ONNX Runtime and trtexec), ONNX Runtime sessions, and ONNX Runtime int8 quantization.

The `onnxruntime` runtime and its `ort-*` methods are registered here beside their handlers.

Export uses the dynamo exporter (`torch.onnx.export(..., dynamo=True)`, torch.export underneath) by default or the
legacy TorchScript exporter; the batch dimension is symbolic when `dynamic_batch` so one file serves every batch
size. Input `images (B, 3, H, W)` float32, output `logits (B, num_classes)`.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from swinprof.errors import InvalidOptionError, RecipeError, SwinprofError, require_extra
from swinprof.optimize.exported import export_program
from swinprof.optimize.methods import (
    OWN,
    MethodJob,
    MethodSpec,
    Quantized,
    RuntimeSpec,
    apply_method,
    register_method,
    register_runtime,
)
from swinprof.optimize.proof import count_onnxruntime
from swinprof.optimize.pt2e import resolve_reduce_range
from swinprof.optimize.selection import selected_modules

if TYPE_CHECKING:
    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.recipe import Recipe

INPUT_NAME, OUTPUT_NAME = "images", "logits"
# Said of a file made for another runtime (a method with MethodSpec.exact_qdq) when ONNX Runtime times it here.
ARTIFACT_LATENCY_NOTE = ("latency is ONNX Runtime's here, not TensorRT's on the device: run the printed trtexec "
                         "command there and bring the times back with swinprof import-trtexec, or run the "
                         "onnxruntime-gpu recipe (trt-int8-ort-gpu) on the device")  # fmt: skip


def _opsets() -> dict[str, tuple[int, int]]:
    """Opsets each exporter writes as asked (outside them it writes another one, or fails late)."""
    from torch.onnx import _constants as c  # private, so read defensively

    return {"dynamo": (18, getattr(c, "ONNX_MAX_OPSET", 23)),
            "torchscript": (13, getattr(c, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))}  # fmt: skip


def check_opset(opset: int, exporter: str) -> None:
    """Raise InvalidOptionError unless `exporter` (dynamo / torchscript) writes `opset` as asked."""
    ranges = _opsets()
    if exporter not in ranges:
        raise InvalidOptionError(f"unknown ONNX exporter {exporter!r}; choose one of: {', '.join(ranges)}")
    low, high = ranges[exporter]
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise InvalidOptionError(f"ONNX opset {opset!r} is not available with the {exporter} exporter: "
                                 f"choose {low} to {high}")  # fmt: skip


class ExportError(SwinprofError):
    """The exporter could not convert the model."""


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    img_size: int,
    opset: int = 18,
    dynamic_batch: bool = True,
    exporter: str = "dynamo",
    batch: int = 1,
) -> Path:
    """Write `model` (eval mode, fp32) as an ONNX file at `path` and return the path."""
    check_opset(opset, exporter)
    require_extra("onnx", "onnx", "ONNX export")
    path = Path(path)
    # torch.export specialises a dimension of size 1, so a dynamic batch is traced with at least 2 images.
    example = torch.zeros(max(batch, 2) if dynamic_batch else batch, model.config.in_chans, img_size, img_size)
    model = model.eval()
    try:
        with torch.no_grad():
            if exporter == "dynamo":
                require_extra("onnxscript", "onnx", "the dynamo ONNX exporter")
                # Export ourselves (non-strict, on a copy) and hand the ExportedProgram over: torch.onnx's own
                # fallback chain retries failed captures, and a failed capture can leave tracing state behind.
                program = export_program(model, img_size, dynamic_batch, batch)
                torch.onnx.export(
                    program, (example,), str(path), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME], external_data=False, verbose=False,
                )  # fmt: skip
            else:
                axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(
                    model, (example,), str(path), dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME], dynamic_axes=axes,
                )  # fmt: skip
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ExportError(f"ONNX export ({exporter}, opset {opset}) failed: {str(exc).splitlines()[0]}") from exc
    return path


def session(path: str | os.PathLike, device: str = "cpu", threads: int | None = None, exact_qdq: bool = False):
    """An ONNX Runtime InferenceSession on CPU (or CUDA when asked and available).

    `exact_qdq`: run QuantizeLinear/DequantizeLinear as written (each DequantizeLinear, then the float op) instead
    of fusing them into ONNX Runtime's integer kernels. The fused x86 kernels without VNNI multiply u8 x s8 in
    int16 (vpmaddubsw), which saturates: on such a CPU they lose about 10 dB of SQNR on a Q/DQ Swin that the
    file's own arithmetic (and TensorRT's int8 GEMMs, which accumulate in int32) does not lose. Fidelity of a
    Q/DQ artifact is measured exactly; latency runs the fused kernels."""
    ort = require_extra("onnxruntime", "onnx", "ONNX Runtime inference")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if exact_qdq:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    if threads:
        options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), options, providers=providers)


class OrtModel:
    """Wrap a session as a `(B, 3, H, W)` tensor -> `(B, num_classes)` logits callable."""

    def __init__(self, sess) -> None:
        self.session = sess
        self.input_name = sess.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        feed = {self.input_name: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)}
        return torch.from_numpy(self.session.run(None, feed)[0])


def _module_scopes(node) -> list[str]:
    """The module names a dynamo-exported node came from (its `pkg.torch.onnx.name_scopes` metadata)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                return list(ast.literal_eval(prop.value))
            except (ValueError, SyntaxError):
                return []
    return []


def nodes_for_modules(graph, modules: Iterable[str]) -> list[str]:
    """Names of the MatMul/Gemm/Conv nodes of an ONNX `graph` exported from the given torch modules (by name
    scope)."""
    wanted = set(modules)
    return [
        n.name for n in graph.node if n.op_type in ("MatMul", "Gemm", "Conv") and wanted.intersection(_module_scopes(n))
    ]


class _Calibration:
    """ONNX Runtime CalibrationDataReader over `(B, 3, H, W)` tensors."""

    def __init__(self, batches: Iterable[torch.Tensor]) -> None:
        self._it = iter([{INPUT_NAME: b.numpy().astype(np.float32)} for b in batches])

    def get_next(self):
        return next(self._it, None)


def _quantization_input(job: MethodJob):
    """`(model, nodes)`: the fp32 ONNX file `job.work`, loaded once, without its intermediate shape annotations,
    and the names of its nodes exported from the Linear/Conv2d layers that `job`'s globs select.

    The annotations (`graph.value_info`) are dropped because ORT's quantizers re-run ONNX shape inference in
    strict mode, which fails where the exporter recorded a shape that disagrees with what its own lowering
    produces (seen with torch 2.11's exporter on the classifier head: "Inferred shape and existing shape differ in
    dimension 0: (768) vs (1000)"). They are optional; inference recomputes them from the graph.
    """
    onnx = require_extra("onnx", "onnx", "ONNX quantization")
    model = onnx.load(str(job.work))
    del model.graph.value_info[:]
    chosen = selected_modules(job.model, job.include, job.skip, (nn.Linear, nn.Conv2d))
    nodes = nodes_for_modules(model.graph, chosen)
    if not nodes:
        raise ExportError("no ONNX node maps to a selected layer (exported without name scopes? use exporter dynamo)")
    return model, nodes


def _quantized_path(job: MethodJob) -> Path:
    return (job.workdir or Path(job.work).parent) / f"{job.name}.onnx"


_TESTS = "tests/optimize/test_onnx_export.py"
ORT_INT8 = MethodSpec("onnxruntime", ("cpu",), extra="onnx", module="onnxruntime", kind="int8", weight_bits=8,
                     activation_bits=8, tested_by=f"{_TESTS}::test_ort_int8")  # fmt: skip


@register_method(
    "ort-int8-dynamic",
    dataclasses.replace(ORT_INT8, summary="ONNX Runtime dynamic int8 (MatMul/Gemm)", candidates=("onnx-ort-int8",)),
)
def ort_int8_dynamic(job: MethodJob) -> Quantized:
    """int8 weights, activations quantized per call (MatMul/Gemm); `job.work` is the fp32 ONNX file."""
    q = require_extra("onnxruntime.quantization", "onnx", "ONNX Runtime quantization")
    (model, nodes), dst = _quantization_input(job), _quantized_path(job)
    reduce_range = resolve_reduce_range(job.reduce_range)
    q.quantize_dynamic(
        model, str(dst), weight_type=q.QuantType.QInt8, nodes_to_quantize=nodes,
        reduce_range=reduce_range, per_channel=False,
    )  # fmt: skip
    return Quantized(dst, nodes, [f"ONNX Runtime dynamic int8, reduce_range={reduce_range}, {len(nodes)} nodes"])


ORT_STATIC = dataclasses.replace(ORT_INT8, calibrated=True, summary="ONNX Runtime static QDQ int8")


@register_method("ort-int8-static", ORT_STATIC)
def ort_int8_static(job: MethodJob) -> Quantized:
    """QDQ with activation ranges from the calibration batches (u8 activations / s8 per-channel weights: ORT's CPU
    advice); `job.work` is the fp32 ONNX file."""
    q = require_extra("onnxruntime.quantization", "onnx", "ONNX Runtime quantization")
    if not job.calibration:
        raise ValueError("ort-int8-static needs calibration batches")
    (model, nodes), dst = _quantization_input(job), _quantized_path(job)
    reduce_range = resolve_reduce_range(job.reduce_range)
    q.quantize_static(
        model, str(dst), _Calibration(job.calibration), quant_format=q.QuantFormat.QDQ,
        nodes_to_quantize=nodes, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
        per_channel=True, reduce_range=reduce_range,
    )  # fmt: skip
    return Quantized(dst, nodes, [f"ONNX Runtime static QDQ int8, reduce_range={reduce_range}, {len(nodes)} nodes"])


def exporter_modules(recipe: Recipe) -> tuple[str, ...]:
    return ("onnxscript",) if recipe.export.exporter == "dynamo" else ()


def check_export(recipe: Recipe) -> None:
    try:
        check_opset(recipe.export.opset, recipe.export.exporter)
    except InvalidOptionError as exc:
        raise RecipeError(f"[export]: {exc}") from None


ONNXRUNTIME = RuntimeSpec(
    devices=("cpu", "cuda"), extra="onnx", modules=("onnxruntime", "onnx"), needs=exporter_modules,
    validate=check_export, summary="ONNX export, then an ONNX Runtime session",
    title="ONNX Runtime", packages=("onnx", "onnxruntime", "onnxscript"), count_quantized=count_onnxruntime,
    count_evidence="quantized ONNX nodes", size_meter="the .onnx file", gap_role={"int8": OWN},
    selfcheck="recipe onnx-ort-int8", tested_by=f"{_TESTS}::test_fp32_parity_with_dynamic_batch",
)  # fmt: skip


def quantized_onnx(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path):
    """The recipe's fp32 ONNX export with its method applied to the file: `(path of the file to open, what the
    method returned)`. Shared by the runtimes that open ONNX files (ONNX Runtime on CPU, its GPU providers)."""
    e = recipe.export
    fp32 = export_onnx(model, workdir / f"{recipe.name}.fp32.onnx", model.config.img_size, e.opset, e.dynamic_batch,
                       e.exporter)  # fmt: skip
    q = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, fp32, calibration, workdir))
    return Path(q.work), q


@register_runtime("onnxruntime", ONNXRUNTIME)
def prepare_onnxruntime(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Export fp32 ONNX, apply the method to the file, open a session; the ONNX file is kept as an artifact."""
    from swinprof.optimize.prepare import Prepared

    path, q = quantized_onnx(recipe, model, calibration, workdir)
    fn = OrtModel(session(path, recipe.target.device, exact_qdq=recipe.method.exact_qdq))
    notes = [*q.notes, ARTIFACT_LATENCY_NOTE] if recipe.method.exact_qdq else q.notes
    return Prepared(recipe.name, fn, 0.0, path.stat().st_size, q.layers, {"onnx": path}, notes)


def check_parity(model: nn.Module, path: str | os.PathLike, batch_sizes=(1, 2), seed: int = 0) -> dict[int, float]:
    """Max abs logit difference between PyTorch and ONNX Runtime on seeded random inputs, per batch size."""
    ort_model = OrtModel(session(path))
    g = torch.Generator().manual_seed(seed)
    img = model.config.img_size
    out = {}
    with torch.inference_mode():
        for b in batch_sizes:
            x = torch.randn(b, model.config.in_chans, img, img, generator=g)
            out[b] = (model(x) - ort_model(x)).abs().max().item()
    return out
