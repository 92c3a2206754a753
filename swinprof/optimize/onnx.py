"""ONNX export (for ONNX Runtime and trtexec), ONNX Runtime sessions, and ONNX Runtime int8 quantization.

Export uses the dynamo exporter (`torch.onnx.export(..., dynamo=True)`, torch.export underneath) by default or the
legacy TorchScript exporter; the batch dimension is symbolic when `dynamic_batch` so one file serves every batch
size. Input `images (B, 3, H, W)` float32, output `logits (B, num_classes)`.
"""

from __future__ import annotations

import ast
import copy
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from swinprof.errors import SwinprofError, require_extra
from swinprof.optimize.quantize import selected_modules

INPUT_NAME, OUTPUT_NAME = "images", "logits"
MAX_EXPORT_BATCH = 1024


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
                dims = {"x": {0: torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)}} if dynamic_batch else None
                program = torch.export.export(copy.deepcopy(model), (example,), dynamic_shapes=dims, strict=False)
                torch.onnx.export(
                    program, (example,), str(path), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME], external_data=False,
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


def session(path: str | os.PathLike, device: str = "cpu", threads: int | None = None):
    """An ONNX Runtime InferenceSession on CPU (or CUDA when asked and available)."""
    ort = require_extra("onnxruntime", "onnx", "ONNX Runtime inference")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
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


def nodes_for_modules(onnx_path: str | os.PathLike, modules: Iterable[str]) -> list[str]:
    """Names of the MatMul/Gemm/Conv nodes exported from the given torch modules (by name scope)."""
    onnx = require_extra("onnx", "onnx", "ONNX quantization")
    wanted = set(modules)
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [
        n.name for n in graph.node if n.op_type in ("MatMul", "Gemm", "Conv") and wanted.intersection(_module_scopes(n))
    ]


class _Calibration:
    """ONNX Runtime CalibrationDataReader over `(B, 3, H, W)` tensors."""

    def __init__(self, batches: Iterable[torch.Tensor]) -> None:
        self._it = iter([{INPUT_NAME: b.numpy().astype(np.float32)} for b in batches])

    def get_next(self):
        return next(self._it, None)


def quantize_onnx(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    method: str,
    model: nn.Module,
    include: Iterable[str] = ("*",),
    skip: Iterable[str] = (),
    calibration: Iterable[torch.Tensor] | None = None,
    reduce_range: bool = False,
) -> tuple[Path, list[str]]:
    """ONNX Runtime int8 quantization of the layers `include`/`skip` select (matched through name scopes).

    `ort-int8-dynamic`: int8 weights, activations quantized per call (MatMul/Gemm). `ort-int8-static`: QDQ with
    activation ranges from `calibration` batches (u8 activations / s8 weights, per-channel: ORT's CPU advice).
    Returns `(dst, names of the quantized ONNX nodes)`.
    """
    q = require_extra("onnxruntime.quantization", "onnx", "ONNX Runtime quantization")
    chosen = selected_modules(model, include, skip, (nn.Linear, nn.Conv2d))
    nodes = nodes_for_modules(src, chosen)
    if not nodes:
        raise ExportError("no ONNX node maps to a selected layer (exported without name scopes? use exporter dynamo)")
    if method == "ort-int8-dynamic":
        q.quantize_dynamic(
            str(src), str(dst), weight_type=q.QuantType.QInt8, nodes_to_quantize=nodes, reduce_range=reduce_range,
            per_channel=False,
        )  # fmt: skip
    elif method == "ort-int8-static":
        if calibration is None:
            raise ValueError("ort-int8-static needs calibration batches")
        q.quantize_static(
            str(src), str(dst), _Calibration(calibration), quant_format=q.QuantFormat.QDQ, nodes_to_quantize=nodes,
            activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True,
            reduce_range=reduce_range,
        )  # fmt: skip
    else:
        raise ValueError(f"not an ONNX Runtime quantization method: {method!r}")
    return Path(dst), nodes


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
