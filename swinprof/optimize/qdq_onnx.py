"""Explicit-quantization ONNX for TensorRT: QuantizeLinear/DequantizeLinear pairs inserted into the fp32 export.

TensorRT 10 and 11 build int8 only from explicit Q/DQ nodes (TensorRT 11 builds strongly typed networks only: no
INT8 builder flag, no calibrator, every tensor's type read from the file). The placement follows NVIDIA's guidance
for transformer blocks:
- both inputs of every GEMM go through Q/DQ: the Linear layers (qkv, proj, fc1, fc2, patch merging reduction; ONNX
  MatMul/Gemm with a weight initializer) and the attention MatMuls (QK^T, AV; two activation inputs);
- LayerNorm, Softmax and GELU stay in floating point (nothing is inserted before them); residual adds too unless
  `residual=True` (ModelOpt's placement: Q/DQ on the branch input of each residual add, the output of the
  attention or MLP block, so the block can end in int8 and TensorRT can fuse the add with it);
  a Q/DQ pair feeds only the consumers chosen for it, the others keep the float tensor;
- symmetric int8 (zero point 0): weights per output channel, stored as int8 initializers feeding a
  DequantizeLinear (`axis` = the output-channel axis: 1 for MatMul's (K, N) weight, 0 for Conv and Gemm with
  transB), activations per tensor with the scale calibrated from the fp32 graph's own activations in ONNX Runtime;
- everything that is not an int8 GEMM computes in the file's high precision: float16 by default (scales and
  DequantizeLinear outputs float16, LayerNorm and Softmax in float32 between casts, input and output float32: the
  types a strongly typed TensorRT build takes), or float32 (`high_precision="fp32"`).

NVIDIA ModelOpt's ONNX PTQ (`nvidia-modelopt[onnx]`) writes the same kind of file; it replaces this project's CPU
`onnxruntime` with `onnxruntime-gpu` and pins an older `onnx`, so it runs in its own virtual environment
(`tools/modelopt_quantize.py` writes its file, `tools/qdq_compare.py` compares both; docs/deploy-jetson.md). The
insertion here is plain `onnx` graph editing (`qdq_insert`), checked by `qdq_check`.

Graph layout (dynamo exporter, opset 18): input `images (B, 3, H, W)` float32, output `logits (B, classes)`; a
float16 Q/DQ file is opset 19 or later (float16 scales need QuantizeLinear/DequantizeLinear-19).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from swinprof.errors import InvalidOptionError, SwinprofError, require_extra
from swinprof.optimize.fp16_onnx import to_fp16
from swinprof.optimize.onnx import _module_scopes
from swinprof.optimize.ort_tensors import read_tensors
from swinprof.optimize.qdq_insert import HIGH_PRECISIONS, QdqInserter
from swinprof.optimize.selection import matches as _matches  # the recipes' glob rule: a module or any ancestor matches

GEMM_OPS = ("MatMul", "Gemm", "Conv")
CALIBRATORS = ("max", "percentile")


class QdqError(SwinprofError):
    """The graph cannot be quantized as asked (no GEMM selected, no calibration data, unknown calibrator)."""


@dataclass(frozen=True)
class GemmSite:
    """One GEMM of the graph: its node name, op type, the module it was exported from, and its kind (`linear`:
    a weight initializer; `attention`: two activation inputs, QK^T or AV; `conv`)."""

    node: str
    op_type: str
    module: str
    kind: str


@dataclass
class QdqResult:
    """What `quantize_qdq` wrote: the file, the sites quantized and skipped, where the activation ranges came
    from, the residual Adds given Q/DQ on their skip input, and the file's high precision."""

    path: Path
    quantized: list[GemmSite]
    skipped: list[GemmSite]
    calibration: str
    activation_amax: dict[str, float] = field(default_factory=dict)
    residual_adds: list[str] = field(default_factory=list)
    high_precision: str = "fp16"


def node_module(node, modules: set[str] | None = None) -> str:
    """The module a dynamo-exported node came from: its deepest name scope (the last scope is the op's own
    name). An activation x activation MatMul of a block is attributed to the block's `attn` module when
    `modules` (the model's module names) has one, so skip globs on `*.attn` cover QK^T and AV too."""
    scopes = _module_scopes(node)
    module = scopes[-2] if len(scopes) >= 2 else ""
    if modules is not None and f"{module}.attn" in modules and node.op_type == "MatMul":
        return f"{module}.attn"
    return module


def gemm_sites(graph, modules: set[str] | None = None) -> list[GemmSite]:
    """Every MatMul/Gemm/Conv of `graph`, in graph order, with its module and kind."""
    inits = {i.name for i in graph.initializer}
    out = []
    for node in graph.node:
        if node.op_type not in GEMM_OPS:
            continue
        weighted = len(node.input) > 1 and node.input[1] in inits
        kind = "conv" if node.op_type == "Conv" else "linear" if weighted else "attention"
        out.append(GemmSite(node.name, node.op_type, node_module(node, modules), kind))
    return out


def select_sites(
    sites: Sequence[GemmSite], include: Iterable[str] = ("*",), skip: Iterable[str] = ()
) -> tuple[list[GemmSite], list[GemmSite]]:
    """`(quantized, skipped)`: the sites whose module `include` selects and `skip` does not. A site without a
    module (a file exported without name scopes) is selected only when no glob could have meant it."""
    include, skip = tuple(include), tuple(skip)
    chosen, left = [], []
    for s in sites:
        if s.module:
            keep = _matches(s.module, include) and not _matches(s.module, skip)
        else:
            keep = include == ("*",) and not skip
        (chosen if keep else left).append(s)
    return chosen, left


def activation_inputs(graph, sites: Sequence[GemmSite]) -> list[str]:
    """The activation tensors (non-initializer inputs A and B) of the selected GEMMs, each once, in order."""
    inits = {i.name for i in graph.initializer}
    by_name = {n.name: n for n in graph.node}
    names: dict[str, None] = {}
    for s in sites:
        for tensor in list(by_name[s.node].input)[:2]:
            if tensor and tensor not in inits:
                names[tensor] = None
    return list(names)


def activation_amax(
    model, tensors: Sequence[str], batches: Iterable[torch.Tensor], calibrator: str = "max", percentile: float = 99.99
) -> dict[str, float]:
    """Per tensor, the absolute range its int8 scale covers: the largest |x| over the calibration batches
    (`max`) or the mean over batches of the `percentile` of |x| (`percentile`); observed by running the fp32
    graph in ONNX Runtime with the tensors exposed (`ort_tensors`), one batch at a time."""
    if calibrator not in CALIBRATORS:
        raise InvalidOptionError(f"unknown calibrator {calibrator!r}; choose one of: {', '.join(CALIBRATORS)}")
    found: dict[str, list[float]] = {t: [] for t in tensors}
    for values in read_tensors(model, list(tensors), batches):
        for t, value in values.items():
            a = np.abs(value.astype(np.float32)).ravel()
            found[t].append(float(a.max() if calibrator == "max" else np.percentile(a, percentile)))
    if not tensors or not found[tensors[0]]:
        raise QdqError("Q/DQ calibration needs at least one batch of images")
    reduce = max if calibrator == "max" else lambda v: float(np.mean(v))
    return {t: reduce(v) for t, v in found.items()}


def residual_sites(graph, sites: Sequence[GemmSite]) -> list[tuple[str, int]]:
    """`(Add node, input index)` of every residual add's branch input: an Add of two activations where one input
    (the skip) is an ancestor of the other (the branch) and the branch passes through a quantized GEMM on its way
    back to the skip. ModelOpt's ONNX PTQ places Q/DQ on that input (its "non-residual" input: the longer path to
    the common ancestor), so the GEMM block can write int8 and TensorRT can fuse the add with it."""
    inits = {i.name for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    quantized = {s.node for s in sites}

    def through_gemm(branch: str, skip: str) -> bool:
        """Whether `skip` is an ancestor of `branch` with a quantized GEMM between them."""
        seen, stack, gemm, found = set(), [branch], False, False
        while stack:
            tensor = stack.pop()
            if tensor == skip:
                found = True
                continue
            node = producer.get(tensor)
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            gemm = gemm or node.name in quantized
            stack.extend(t for t in node.input if t and t not in inits)
        return found and gemm

    out = []
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2 or any(t in inits for t in node.input):
            continue
        a, b = node.input
        if through_gemm(b, a):
            out.append((node.name, 1))
        elif through_gemm(a, b):
            out.append((node.name, 0))
    return out


def insert_qdq(model, sites: Sequence[GemmSite], amax: dict[str, float], residual: Sequence[tuple[str, int]] = (),
               scale_dtype=np.float32):  # fmt: skip
    """`model` (an fp32 ModelProto, edited in place and returned) with Q/DQ on both inputs of every site and on
    the `residual` Add inputs; scales representable in `scale_dtype`."""
    graph = model.graph
    inserter = QdqInserter(graph, scale_dtype)
    wanted = {s.node for s in sites}
    adds = dict(residual)
    for node in graph.node:
        if node.name in wanted:
            for i, tensor in enumerate(list(node.input)[:2]):
                weight = tensor in inserter.inits
                node.input[i] = inserter.weight(tensor, node) if weight else inserter.activation(tensor, amax[tensor])
        elif node.name in adds:
            i = adds[node.name]
            node.input[i] = inserter.activation(node.input[i], amax[node.input[i]])
    inserter.finish(model)
    return model


def quantize_qdq(
    fp32_path: str | os.PathLike,
    dst: str | os.PathLike,
    batches: Iterable[torch.Tensor],
    calibration: str,
    include: Iterable[str] = ("*",),
    skip: Iterable[str] = (),
    modules: set[str] | None = None,
    calibrator: str = "max",
    percentile: float = 99.99,
    high_precision: str = "fp16",
    residual: bool = False,
) -> QdqResult:
    """Write the explicit-Q/DQ int8 version of the fp32 ONNX file `fp32_path` at `dst`.

    `batches`: `(B, 3, H, W)` calibration inputs, read once (a lazy iterable is fine); `calibration` says where
    they came from (for the report); `include`/`skip`: module-name globs; `modules`: the model's module names
    (attributes QK^T/AV to `*.attn`); `high_precision`: what everything that is not an int8 GEMM computes in
    (`fp16`: float16 with LayerNorm/Softmax in float32 between casts, as `fp16_onnx`; `fp32`: the export's own
    float32); `residual`: Q/DQ on the branch input of residual adds too (`residual_sites`).
    """
    onnx = require_extra("onnx", "onnx", "ONNX Q/DQ export")
    if high_precision not in HIGH_PRECISIONS:
        raise InvalidOptionError(f"unknown high precision {high_precision!r}; choose one of: "
                                 f"{', '.join(HIGH_PRECISIONS)}")  # fmt: skip
    model = onnx.load(str(fp32_path))
    del model.graph.value_info[:]  # the exporter's intermediate annotations can disagree with inference (onnx.py)
    chosen, left = select_sites(gemm_sites(model.graph, modules), include, skip)
    if not chosen:
        raise QdqError("the include/skip globs select no MatMul/Gemm/Conv of the ONNX graph")
    adds = residual_sites(model.graph, chosen) if residual else []
    by_name = {n.name: n for n in model.graph.node}
    tensors = list(dict.fromkeys([*activation_inputs(model.graph, chosen), *(by_name[a].input[i] for a, i in adds)]))
    amax = activation_amax(model, tensors, batches, calibrator, percentile)
    insert_qdq(model, chosen, amax, adds, HIGH_PRECISIONS[high_precision])
    if high_precision == "fp16":
        to_fp16(model)
    onnx.checker.check_model(model, full_check=True)
    dst = Path(dst)
    onnx.save(model, str(dst))
    source = f"{calibration}, {calibrator} calibrator"
    return QdqResult(dst, chosen, left, source, amax, [a for a, _ in adds], high_precision)
