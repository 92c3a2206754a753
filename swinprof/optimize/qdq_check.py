"""The placement check of an explicit-quantization ONNX: what TensorRT will run in int8, and whether the Q/DQ
placement follows NVIDIA's rules for transformer blocks.

Reads any ONNX file. Per GEMM (MatMul, Gemm, Conv): whether each of its two inputs comes through a
DequantizeLinear (directly or through shape-only ops: Reshape, Transpose, Squeeze, Unsqueeze, Flatten, which
TensorRT propagates Q/DQ across), that DequantizeLinear's kinds (int8/uint8, symmetric or not, per-channel or
per-tensor), and the GEMM's MACs per image from ONNX shape inference (a symbolic batch counted as 1). Rules, each
broken one raises `PlacementError` naming the node:
- every zero point of a QuantizeLinear/DequantizeLinear is 0 (symmetric int8: TensorRT has no asymmetric int8);
- LayerNormalization, Softmax and GELU (Gelu, or the Erf of its exact form) read float, not a DequantizeLinear;
- a GEMM has Q/DQ on both of its inputs or on neither (one float input keeps it out of int8 kernels).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swinprof.errors import SwinprofError, require_extra
from swinprof.optimize.qdq_onnx import GEMM_OPS, node_module

SHAPE_ONLY = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity")
FLOAT_ONLY = ("LayerNormalization", "Softmax", "Gelu", "Erf")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class PlacementError(SwinprofError):
    """An ONNX graph whose Q/DQ placement breaks a TensorRT rule (the message names the node)."""


@dataclass(frozen=True)
class InputKind:
    """How one GEMM input arrives: `float`, or through the DequantizeLinear `dq` with its element type, zero
    point and scale granularity."""

    dq: str | None = None
    dtype: str = ""
    symmetric: bool = True
    granularity: str = ""

    @property
    def quantized(self) -> bool:
        return self.dq is not None

    @property
    def cell(self) -> str:
        if not self.quantized:
            return "float"
        return f"{self.dtype} {self.granularity}{'' if self.symmetric else ' ASYMMETRIC'}"


@dataclass(frozen=True)
class GemmPlacement:
    node: str
    op_type: str
    module: str
    a: InputKind
    b: InputKind
    macs: int | None

    @property
    def precision(self) -> str:
        both, either = self.a.quantized and self.b.quantized, self.a.quantized or self.b.quantized
        return "int8" if both else "MIXED" if either else "float"


@dataclass
class Placement:
    """The check's findings for one graph."""

    gemms: list[GemmPlacement]
    float_ops: Counter
    qdq_counts: Counter
    violations: list[str] = field(default_factory=list)

    @property
    def int8_macs_share(self) -> float | None:
        """Share of the GEMM MACs (shape-inferred ones) that run with both inputs in int8."""
        known = [g for g in self.gemms if g.macs is not None]
        total = sum(g.macs for g in known)
        return sum(g.macs for g in known if g.precision == "int8") / total if total else None

    def raise_if_broken(self) -> None:
        if self.violations:
            more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
            raise PlacementError(self.violations[0] + more)


def _array(onnx, inits: dict, name: str) -> np.ndarray | None:
    return onnx.numpy_helper.to_array(inits[name]) if name in inits else None


def _dq_kind(onnx, node, inits: dict) -> InputKind:
    """The kinds of DequantizeLinear `node`: element type from its zero point (or int8 input), symmetric if the
    zero point is absent or all 0, per-channel if the scale has more than one element."""
    scale = _array(onnx, inits, node.input[1])
    zero = _array(onnx, inits, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    source = _array(onnx, inits, node.input[0])
    known = zero if zero is not None else source
    dtype = known.dtype.name if known is not None else "uint8"  # a Q without zero point writes uint8
    symmetric = zero is None or not np.any(zero)
    granularity = "per-tensor" if scale is None or scale.size == 1 else "per-channel"
    return InputKind(node.name, dtype, bool(symmetric), granularity)


def _dims(value_info) -> list[int] | None:
    """Static dims of a value's shape; a symbolic or unknown dim (the batch) counts as 1."""
    if not value_info.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]


def _gemm_macs(node, shapes: dict[str, list[int]]) -> int | None:
    """MACs of one MatMul/Gemm/Conv from its output shape and its reduction length (batch counted as 1)."""
    out, a, b = shapes.get(node.output[0]), shapes.get(node.input[0]), shapes.get(node.input[1])
    if out is None or a is None or b is None or not a or not b:
        return None
    if node.op_type == "Conv":
        reduce = int(np.prod(b[1:]))  # (O, I/groups, kh, kw): every output reads I/groups * kh * kw inputs
    elif node.op_type == "Gemm":
        trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
        reduce = a[0] if trans_a else a[-1]
    else:
        reduce = a[-1]
    return int(np.prod(out)) * reduce


def _shapes(onnx, model) -> dict[str, list[int]]:
    """Static shapes of every tensor for one image: symbolic input dims are fixed to 1 and shape data is
    propagated (`data_prop`), so a batch folded into the windows dimension (B * nW) resolves too."""
    for value in model.graph.input:
        for d in value.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    g = inferred.graph
    shapes = {v.name: _dims(v) for v in [*g.value_info, *g.input, *g.output]}
    shapes.update({i.name: list(i.dims) for i in g.initializer})
    return {k: v for k, v in shapes.items() if v is not None}


def inspect_model(model) -> Placement:
    """The placement findings of a loaded ModelProto (violations listed, not raised)."""
    onnx = require_extra("onnx", "onnx", "the ONNX placement check")
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    dq_kinds = {n.name: _dq_kind(onnx, n, inits) for n in graph.node if n.op_type == "DequantizeLinear"}

    def arriving(tensor: str) -> InputKind:
        node = producer.get(tensor)
        while node is not None and node.op_type in SHAPE_ONLY:
            node = producer.get(node.input[0])
        return dq_kinds[node.name] if node is not None and node.op_type == "DequantizeLinear" else InputKind()

    violations = _zero_point_violations(onnx, graph, inits)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.value_info[:]  # the exporter's annotations can disagree with inference (see optimize/onnx.py)
    shapes = _shapes(onnx, probe)
    gemms, float_ops = [], Counter()
    for node in graph.node:
        if node.op_type in GEMM_OPS:
            a, b = arriving(node.input[0]), arriving(node.input[1])
            g = GemmPlacement(node.name, node.op_type, node_module(node), a, b, _gemm_macs(node, shapes))
            gemms.append(g)
            if g.precision == "MIXED":
                side = "A (input 0)" if not a.quantized else "B (input 1)"
                violations.append(f"{node.op_type} {node.name!r} has one float input, {side}: a GEMM needs Q/DQ on "
                                  "both inputs or on neither")  # fmt: skip
        elif node.op_type in FLOAT_ONLY:
            if arriving(node.input[0]).quantized:
                violations.append(f"{node.op_type} {node.name!r} reads a DequantizeLinear: LayerNorm, Softmax and "
                                  "GELU must stay in floating point")  # fmt: skip
            float_ops[node.op_type] += 1
    qdq = Counter(n.op_type for n in graph.node if n.op_type in QDQ_OPS)
    return Placement(gemms, float_ops, qdq, violations)


def _zero_point_violations(onnx, graph, inits: dict) -> list[str]:
    out = []
    for node in graph.node:
        if node.op_type in QDQ_OPS and len(node.input) > 2 and node.input[2]:
            zero = _array(onnx, inits, node.input[2])
            if zero is None or np.any(zero) or zero.dtype != np.int8:
                what = ("is not a constant" if zero is None else f"is {zero.dtype.name} {zero.ravel()[:3].tolist()}"
                        ", not int8 0")  # fmt: skip
                out.append(f"{node.op_type} {node.name!r}: zero point {what} (TensorRT int8 is symmetric)")
    return out


def inspect_onnx(path: str | os.PathLike) -> Placement:
    """Read `path` and return its placement findings (violations listed, not raised)."""
    onnx = require_extra("onnx", "onnx", "the ONNX placement check")
    p = Path(path)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise PlacementError(f"{p}: not a readable ONNX file ({type(exc).__name__})") from exc
    return inspect_model(model)


def check_onnx(path: str | os.PathLike) -> Placement:
    """`inspect_onnx`, raising PlacementError (naming the first offending node) on a broken rule."""
    placement = inspect_onnx(path)
    placement.raise_if_broken()
    return placement


def placement_report(placement: Placement, path: str | os.PathLike):
    """A Report: the per-GEMM table (inputs, MACs, precision) and the summary (int8 MAC share, float ops,
    Q/DQ counts)."""
    import pandas as pd

    from swinprof.report.document import Report

    report = Report(f"Q/DQ placement: {Path(path).name}")
    rows = [{"node": g.node, "op": g.op_type, "module": g.module or "?", "input A": g.a.cell, "input B": g.b.cell,
             "MACs / image": g.macs, "runs in": g.precision} for g in placement.gemms]  # fmt: skip
    report.add("gemms", "GEMMs (MatMul / Gemm / Conv) and how their inputs arrive", pd.DataFrame(rows),
               "input: through a DequantizeLinear (its element type, scale granularity) or float; MACs per image "
               "(one multiply-add = 1) from ONNX shape inference with the batch fixed to 1")  # fmt: skip
    share = placement.int8_macs_share
    counts = Counter(g.precision for g in placement.gemms)
    summary = {
        "GEMMs in int8 (both inputs Q/DQ)": counts["int8"], "GEMMs in float": counts["float"],
        "GEMMs with one float input": counts["MIXED"],
        "int8 share of GEMM MACs": "n/a" if share is None else f"{share:.1%}",
        "QuantizeLinear / DequantizeLinear": f"{placement.qdq_counts['QuantizeLinear']} / "
        f"{placement.qdq_counts['DequantizeLinear']}",
        **{f"float {op}": n for op, n in sorted(placement.float_ops.items())},
    }  # fmt: skip
    frame = pd.DataFrame([{"what": k, "value": str(v)} for k, v in summary.items()])
    report.add("summary", "Placement summary", frame, "float ops: LayerNorm, Softmax, GELU (Erf) left in float")
    report.notes.extend(f"VIOLATION: {v}" for v in placement.violations)
    return report
