"""What TensorRT's ONNX import refuses in an explicit-quantization file, and reading such a file safely.

Each rule below is one that TensorRT's ONNX parser or builder enforces (or that makes the file invalid ONNX, which
nothing downstream can run); the source is cited beside it. Placement choices TensorRT accepts (Q/DQ before a
LayerNorm, on residual adds, one float GEMM input) are not rules: `qdq_check` reports them as notes.

Sources cited:
- [parser] onnx-tensorrt `onnxOpImporters.cpp`, `QuantDequantLinearHelper` (the QuantizeLinear/DequantizeLinear
  importer; read at onnx/onnx-tensorrt 96e7811, the TensorRT 10 parser);
- [api] TensorRT C++ API, `nvinfer1::IQuantizeLayer` / `IDequantizeLayer` class reference (scale and zero point
  requirements);
- [guide] TensorRT developer guide, "Working with Quantized Types" / "Explicit Quantization" (INT8: symmetric;
  activations per-tensor, per-channel scales for weights);
- [onnx] the ONNX operator specification of QuantizeLinear/DequantizeLinear (opset 10, 13, 19, 21).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swinprof.errors import SwinprofError, require_extra

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Element types TensorRT quantizes to ([parser]: "TensorRT only allows FP8, INT8, and INT4 quantization").
TRT_QUANT_TYPES = ("int8", "float8_e4m3fn", "int4")
PASS_THROUGH = ("Identity", "Cast")  # [parser] getWeightsFromIdentityOrConstant looks through these to a constant


class PlacementError(SwinprofError):
    """An ONNX file TensorRT cannot take as it stands, or that cannot be read (the message names the node)."""


@dataclass(frozen=True)
class Rule:
    """One thing TensorRT refuses, and where that is written down."""

    name: str
    source: str


SYMMETRIC = Rule("symmetric zero point", "[parser] 'TensorRT only supports symmetric quantization'; [api] zeroPt "
                 "must only contain zero-valued coefficients")  # fmt: skip
NO_UINT8 = Rule("no uint8 Q/DQ", "[parser] notInvalidType(input, {'UINT8'}) on the data input, and on a "
                "QuantizeLinear's zero point")  # fmt: skip
IMPLICIT_UINT8 = Rule("explicit int8 zero point", "[onnx] without a zero point QuantizeLinear writes uint8, which ONNX "
                      "Runtime clips at 0; [parser] 'ONNX default is UINT8, TRT will default to INT8': the engine "
                      "would not compute what the file says")  # fmt: skip
QUANT_TYPE = Rule("quantized type", "[parser] 'TensorRT only allows FP8, INT8, and INT4 quantization'")
POSITIVE_SCALE = Rule("positive scale", "[parser] 'Scale coefficients must all be positive', 'Cannot have scale with "
                      "no coefficients'; [api] strictly positive scale (an infinite one passes the parser's test but "
                      "dequantizes every value to inf or nan)")  # fmt: skip
ZERO_POINT_VOLUME = Rule("zero point matches scale", "[parser] 'The scale and zero point must have the same volume'")
SCALE_PER_AXIS = Rule("scale length equals the axis dimension", "[parser] 'The number of scales is not equal to the "
                      "number of output channels', 'Invalid rank for the scale tensor'; [api] the size of the 1D "
                      "scale must match the size of the quantization axis")  # fmt: skip
PER_CHANNEL_CONSTANT = Rule("per-channel only on constants", "[guide] INT8 activations are quantized per tensor; "
                            "per-channel scales are for weights (constant inputs)")  # fmt: skip
AXIS_OPSET = Rule("opset 13 for an axis", "[onnx] QuantizeLinear/DequantizeLinear-10 are per-tensor only; the axis "
                  "attribute (per-channel) exists from opset 13")  # fmt: skip
HALF_SCALE_OPSET = Rule("opset 19 for float16 scales", "[onnx] QuantizeLinear/DequantizeLinear before opset 19 take "
                        "float32 scales only (onnx.checker and ONNX Runtime refuse the file)")  # fmt: skip
RULES = (SYMMETRIC, NO_UINT8, IMPLICIT_UINT8, QUANT_TYPE, POSITIVE_SCALE, ZERO_POINT_VOLUME, SCALE_PER_AXIS,
         PER_CHANNEL_CONSTANT, AXIS_OPSET, HALF_SCALE_OPSET)  # fmt: skip


def broken(node, rule: Rule, what: str) -> str:
    """One line: the node, what is wrong, the rule and its source."""
    return f"{node.op_type} {node.name!r}: {what} (TensorRT rule '{rule.name}': {rule.source})"


def read_onnx(path: str | os.PathLike):
    """Load an ONNX file with its external data read relative to the file's own folder (any working directory
    works); refuse, naming what to do, an empty or unreadable file, missing external data, an empty graph and a
    graph with a cycle."""
    onnx = require_extra("onnx", "onnx", "reading an ONNX file")
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        raise PlacementError(f"{p}: {'an empty file' if p.is_file() else 'no such file'}, not an ONNX model")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise PlacementError(f"{p}: not a readable ONNX file ({type(exc).__name__})") from exc
    if not model.graph.node:
        raise PlacementError(f"{p}: the ONNX graph has no nodes (not a model, or an empty one)")
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(p.parent.resolve()))
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlacementError(f"{p}: its external data cannot be read ({why}); keep the data file(s) the model "
                             "names beside it") from exc  # fmt: skip
    cycle = _cycle_node(model.graph)
    if cycle is not None:
        raise PlacementError(f"{p}: the graph has a cycle through node {cycle!r}; an ONNX graph must be acyclic")
    return model


def _cycle_node(graph) -> str | None:
    """A node on a cycle of `graph` (Kahn's algorithm leaves it unsorted), or None. Order does not matter:
    TensorRT's parser sorts the nodes itself."""
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output if out}
    waiting = [sum(1 for t in set(n.input) if t in producer) for n in graph.node]
    readers: dict[int, list[int]] = {}
    for i, n in enumerate(graph.node):
        for t in set(n.input):
            if t in producer:
                readers.setdefault(producer[t], []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    while ready:
        i = ready.pop()
        for j in readers.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    stuck = [i for i, w in enumerate(waiting) if w > 0]
    return (graph.node[stuck[0]].name or f"#{stuck[0]} ({graph.node[stuck[0]].op_type})") if stuck else None


class Constants:
    """Constant values of a graph: initializers and Constant nodes, looked up through Identity/Cast."""

    def __init__(self, onnx, graph) -> None:
        self.onnx = onnx
        self.arrays = {i.name: i for i in graph.initializer}
        self.producer = {out: n for n in graph.node for out in n.output}
        for node in graph.node:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if node.op_type == "Constant" and value is not None:
                self.arrays[node.output[0]] = value

    def source(self, tensor: str) -> str:
        node = self.producer.get(tensor)
        while node is not None and node.op_type in PASS_THROUGH:
            tensor = node.input[0]
            node = self.producer.get(tensor)
        return tensor

    def is_constant(self, tensor: str) -> bool:
        return self.source(tensor) in self.arrays

    def value(self, tensor: str) -> np.ndarray | None:
        found = self.arrays.get(self.source(tensor))
        return None if found is None else self.onnx.numpy_helper.to_array(found)


def opset_of(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def rule_violations(model, shapes: dict[str, list[int]]) -> list[str]:
    """Every Q/DQ node that breaks a rule of `RULES`, one line each (node, what, rule, source)."""
    onnx = require_extra("onnx", "onnx", "the ONNX rule check")
    consts, opset, out = Constants(onnx, model.graph), opset_of(model), []
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            out += _node_violations(node, consts, opset, shapes)
    return out


def _node_violations(node, consts: Constants, opset: int, shapes: dict[str, list[int]]) -> list[str]:
    scale = consts.value(node.input[1]) if len(node.input) > 1 else None
    zero = consts.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    data = consts.value(node.input[0])
    found = []
    if zero is not None:
        found += _zero_point(node, zero, scale)
    elif node.op_type == "QuantizeLinear" and not _has_output_dtype(node):
        found.append(broken(node, IMPLICIT_UINT8, "no zero point, so its output is uint8 in ONNX"))
    if node.op_type == "DequantizeLinear" and data is not None and data.dtype == np.uint8:
        found.append(broken(node, NO_UINT8, "reads a uint8 constant"))
    if scale is not None:
        found += _scale(node, scale, consts, opset, shapes, data)
    return found


def _has_output_dtype(node) -> bool:
    return any(a.name == "output_dtype" and a.i for a in node.attribute)


def _zero_point(node, zero: np.ndarray, scale: np.ndarray | None) -> list[str]:
    kind = zero.dtype.name
    if kind == "uint8":
        return [broken(node, NO_UINT8, "uint8 zero point (TensorRT quantizes to int8 only)")]
    found = []
    if kind not in TRT_QUANT_TYPES:
        found.append(broken(node, QUANT_TYPE, f"{kind} zero point"))
    if np.any(zero.astype(np.float64) != 0):
        found.append(broken(node, SYMMETRIC, f"zero point {zero.ravel()[:3].tolist()} is not 0"))
    if scale is not None and zero.size != scale.size:
        found.append(broken(node, ZERO_POINT_VOLUME, f"{zero.size} zero points for {scale.size} scales"))
    return found


def _scale(node, scale: np.ndarray, consts: Constants, opset: int, shapes, data) -> list[str]:
    found = []
    values = scale.astype(np.float64)
    if values.size == 0 or not np.all(values > 0) or not np.all(np.isfinite(values)):
        bad = values[~((values > 0) & np.isfinite(values))].ravel()[:3].tolist() if values.size else "none"
        found.append(broken(node, POSITIVE_SCALE, f"scale values {bad}"))
    if scale.dtype != np.float32 and opset < 19:
        found.append(broken(node, HALF_SCALE_OPSET, f"{scale.dtype.name} scale at opset {opset}"))
    if scale.size > 1:
        found += _per_channel(node, scale, consts, opset, shapes, data)
    return found


def _per_channel(node, scale: np.ndarray, consts: Constants, opset: int, shapes, data) -> list[str]:
    found = []
    if opset < 13:
        found.append(broken(node, AXIS_OPSET, f"{scale.size} scales (per-channel) at opset {opset}"))
    weight = consts.is_constant(node.input[0]) or _reads_constant_quantize(node, consts)
    if not weight:
        found.append(broken(node, PER_CHANNEL_CONSTANT, f"{scale.size} scales on an activation"))
    dims = list(data.shape) if data is not None else shapes.get(node.input[0])
    if scale.ndim != 1:
        if dims is not None and scale.ndim != len(dims):
            found.append(broken(node, SCALE_PER_AXIS, f"scale of rank {scale.ndim} for an input of rank {len(dims)}"))
        return found
    if dims:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        axis = axis + len(dims) if axis < 0 else axis
        if not 0 <= axis < len(dims) or dims[axis] != scale.size:
            size = dims[axis] if 0 <= axis < len(dims) else "none"
            found.append(broken(node, SCALE_PER_AXIS, f"{scale.size} scales along axis {axis} of size {size}"))
    return found


def _reads_constant_quantize(node, consts: Constants) -> bool:
    """A DequantizeLinear whose input is a QuantizeLinear of a constant (fp32 weights through Q then DQ)."""
    q = consts.producer.get(node.input[0])
    return node.op_type == "DequantizeLinear" and q is not None and q.op_type == "QuantizeLinear" and (
        consts.is_constant(q.input[0]))
