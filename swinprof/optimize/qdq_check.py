"""The check of an explicit-quantization ONNX file for TensorRT: what it refuses, and what will run in int8.

Reads any ONNX file (swinprof's, NVIDIA ModelOpt's, another tool's). Errors are only what TensorRT's ONNX import
refuses (`trt_rules`: symmetric int8 zero points, positive scales of the right length, per-channel scales on
constants only, ...) and files that cannot be read (empty, cyclic, external data missing, no GEMM at all); each
raises `PlacementError` naming the node, the rule and its source. Everything else is a finding:
- per GEMM (MatMul, Gemm, Conv): whether each input comes through a DequantizeLinear (directly or through ops that
  only move or retype data: Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Identity, Cast; TensorRT propagates
  Q/DQ across them), that DequantizeLinear's kind (element type, scale granularity), the GEMM's MACs per image
  (ONNX shape inference, a symbolic batch counted as 1) and the precision it runs in (int8 when both inputs are
  int8, else its float type);
- the precision every other op class computes in (ONNX type inference: float16, float32, ...), which a strongly
  typed TensorRT build takes from the file as it is;
- placement preferences, as notes: a LayerNorm/Softmax/GELU reading a DequantizeLinear (ModelOpt's placement does,
  TensorRT accepts it), a GEMM with one float input (it runs in float), float32 ops in a float16 file.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swinprof.errors import require_extra
from swinprof.optimize.qdq_onnx import GEMM_OPS, node_module
from swinprof.optimize.trt_rules import QDQ_OPS, Constants, PlacementError, read_onnx, rule_violations

__all__ = ["Placement", "PlacementError", "check_onnx", "inspect_model", "inspect_onnx", "placement_report"]

SHAPE_ONLY = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Cast")
FLOAT_ONLY = ("LayerNormalization", "Softmax", "Gelu", "Erf")
# Reductions a float16 file computes in float32 between Casts (fp16_onnx.FP32_OPS; ModelOpt keeps them so too).
REDUCTIONS = ("LayerNormalization", "Softmax")
NOT_COMPUTE = (*QDQ_OPS, *SHAPE_ONLY, "Constant", "Shape", "Concat", "Slice", "Gather", "Split", "Expand")


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
    def int8(self) -> bool:
        return self.quantized and self.dtype == "int8" and self.symmetric

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
    float_type: str = "float32"

    @property
    def precision(self) -> str:
        """`int8` (both inputs symmetric int8), `MIXED` (one input through Q/DQ), the other element type both
        quantized inputs share, or the GEMM's float type."""
        if self.a.int8 and self.b.int8:
            return "int8"
        if self.a.quantized != self.b.quantized:
            return "MIXED"
        return self.a.dtype if self.a.quantized else self.float_type


@dataclass
class Placement:
    """The check's findings for one graph: `violations` are TensorRT's rules broken, `notes` the rest."""

    gemms: list[GemmPlacement]
    float_ops: Counter
    qdq_counts: Counter
    violations: list[str] = field(default_factory=list)
    precisions: dict[str, Counter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def int8_macs_share(self) -> float | None:
        """Share of the GEMM MACs (shape-inferred ones) that run with both inputs in symmetric int8."""
        known = [g for g in self.gemms if g.macs is not None]
        total = sum(g.macs for g in known)
        return sum(g.macs for g in known if g.precision == "int8") / total if total else None

    def float32_ops(self) -> Counter:
        """Op classes outside LayerNorm/Softmax that compute in float32, with their counts."""
        return Counter({op: kinds["float32"] for op, kinds in self.precisions.items()
                        if op not in REDUCTIONS and kinds.get("float32")})  # fmt: skip

    def raise_if_broken(self) -> None:
        if self.violations:
            more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
            raise PlacementError(self.violations[0] + more)


def _dq_kind(node, consts: Constants) -> InputKind:
    """The kinds of DequantizeLinear `node`: element type from its zero point, else its constant input, else
    the QuantizeLinear writing its input (uint8 when that one has no zero point, as ONNX says); symmetric if the
    zero point is absent or all 0; per-channel if the scale has more than one element."""
    scale = consts.value(node.input[1])
    zero = consts.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    dtype = zero.dtype.name if zero is not None else None
    if dtype is None:
        source = consts.value(node.input[0])
        q = consts.producer.get(node.input[0])
        if source is not None:
            dtype = source.dtype.name
        elif q is not None and q.op_type == "QuantizeLinear" and len(q.input) > 2 and q.input[2]:
            q_zero = consts.value(q.input[2])
            dtype = q_zero.dtype.name if q_zero is not None else "unknown"
        else:
            dtype = "uint8"  # a QuantizeLinear without zero point writes uint8
    symmetric = zero is None or not np.any(zero.astype(np.float64))
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


def _inferred(onnx, model):
    """Shapes and element types of every tensor for one image: symbolic input dims are fixed to 1 and shape data
    is propagated (`data_prop`), so a batch folded into the windows dimension (B * nW) resolves too."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.value_info[:]  # the exporter's annotations can disagree with inference (see optimize/onnx.py)
    for value in probe.graph.input:
        for d in value.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = 1
    try:
        g = onnx.shape_inference.infer_shapes(probe, data_prop=True).graph
    except Exception as exc:  # onnx's InferenceError: a type the schema refuses (e.g. float16 scales at opset 18)
        raise PlacementError(f"ONNX type inference fails on the graph: {str(exc).splitlines()[0]}") from exc
    values = [*g.value_info, *g.input, *g.output]
    shapes = {v.name: _dims(v) for v in values}
    shapes.update({i.name: list(i.dims) for i in g.initializer})
    elem = onnx.helper.tensor_dtype_to_np_dtype
    types = {v.name: np.dtype(elem(v.type.tensor_type.elem_type)).name for v in values if v.type.tensor_type.elem_type}
    types.update({i.name: np.dtype(elem(i.data_type)).name for i in g.initializer})
    return {k: v for k, v in shapes.items() if v is not None}, types


def inspect_model(model) -> Placement:
    """The findings of a loaded ModelProto (TensorRT's broken rules listed, not raised)."""
    onnx = require_extra("onnx", "onnx", "the ONNX placement check")
    graph = model.graph
    consts = Constants(onnx, graph)
    dq_kinds = {n.name: _dq_kind(n, consts) for n in graph.node if n.op_type == "DequantizeLinear"}
    try:
        shapes, types = _inferred(onnx, model)
    except PlacementError:
        Placement([], Counter(), Counter(), rule_violations(model, {})).raise_if_broken()  # a rule says why, if one
        raise

    def arriving(tensor: str) -> InputKind:
        node = consts.producer.get(tensor)
        while node is not None and node.op_type in SHAPE_ONLY:
            node = consts.producer.get(node.input[0])
        return dq_kinds[node.name] if node is not None and node.op_type == "DequantizeLinear" else InputKind()

    gemms, float_ops, precisions, notes = [], Counter(), {}, []
    for node in graph.node:
        kind = types.get(node.output[0], "?") if node.output else "?"
        if node.op_type in GEMM_OPS:
            a, b = arriving(node.input[0]), arriving(node.input[1])
            gemms.append(GemmPlacement(node.name, node.op_type, node_module(node), a, b, _gemm_macs(node, shapes),
                                       kind))  # fmt: skip
            continue
        if node.op_type in FLOAT_ONLY:
            float_ops[node.op_type] += 1
            if arriving(node.input[0]).quantized:
                notes.append(f"{node.op_type} {node.name!r} reads a DequantizeLinear")
        if node.op_type not in NOT_COMPUTE:
            precisions.setdefault(node.op_type, Counter())[kind] += 1
    if not gemms:
        raise PlacementError("the graph has no MatMul, Gemm or Conv: nothing TensorRT could run in int8")
    qdq = Counter(n.op_type for n in graph.node if n.op_type in QDQ_OPS)
    placement = Placement(gemms, float_ops, qdq, rule_violations(model, shapes), precisions)
    placement.notes = _preference_notes(placement, notes)
    return placement


def _preference_notes(placement: Placement, float_readers: list[str]) -> list[str]:
    """What TensorRT accepts but changes what runs in int8 or in which float type."""
    notes = []
    if float_readers:
        more = f" (and {len(float_readers) - 1} more)" if len(float_readers) > 1 else ""
        notes.append(f"placement: {float_readers[0]}{more}; TensorRT accepts it (ModelOpt places Q/DQ so), the op "
                     "computes in the DequantizeLinear's float type")  # fmt: skip
    mixed = [g for g in placement.gemms if g.precision == "MIXED"]
    if mixed:
        side = "A (input 0)" if not mixed[0].a.quantized else "B (input 1)"
        notes.append(f"placement: {mixed[0].op_type} {mixed[0].node!r} has one float input, {side}, and "
                     f"{len(mixed) - 1} more GEMMs too: such a GEMM runs in float, not int8")  # fmt: skip
    in_fp16 = any(kinds.get("float16") for kinds in placement.precisions.values())
    fp32 = placement.float32_ops()
    if in_fp16 and fp32:
        listed = ", ".join(f"{op} x{n}" for op, n in fp32.most_common())
        notes.append(f"precision: float32 outside LayerNorm/Softmax in a float16 file: {listed}")
    return notes


def inspect_onnx(path: str | os.PathLike) -> Placement:
    """Read `path` (external data relative to its folder) and return its findings (rules listed, not raised)."""
    return inspect_model(read_onnx(path))


def check_onnx(path: str | os.PathLike) -> Placement:
    """`inspect_onnx`, raising PlacementError (naming the first offending node and the rule) on a broken rule."""
    placement = inspect_onnx(path)
    placement.raise_if_broken()
    return placement


def placement_report(placement: Placement, path: str | os.PathLike):
    """A Report: the per-GEMM table (inputs, MACs, precision), the precision of every other op class, and the
    summary (int8 MAC share, Q/DQ counts); preferences as notes."""
    import pandas as pd

    from swinprof.report.document import Report

    report = Report(f"Q/DQ placement: {Path(path).name}")
    rows = [{"node": g.node, "op": g.op_type, "module": g.module or "?", "input A": g.a.cell, "input B": g.b.cell,
             "MACs / image": g.macs, "runs in": g.precision} for g in placement.gemms]  # fmt: skip
    report.add("gemms", "GEMMs (MatMul / Gemm / Conv) and how their inputs arrive", pd.DataFrame(rows),
               "input: through a DequantizeLinear (its element type, scale granularity) or float; MACs per image "
               "(one multiply-add = 1) from ONNX shape inference with the batch fixed to 1",
               essential=("node", "runs in"), secondary=("module", "MACs / image"))  # fmt: skip
    kinds = [{"op": op, "computes in": ", ".join(f"{t} x{n}" for t, n in sorted(c.items())), "nodes": sum(c.values())}
             for op, c in sorted(placement.precisions.items())]  # fmt: skip
    report.add("precision", "Precision of the ops that are not GEMMs", pd.DataFrame(kinds),
               "element type of each node's output from ONNX type inference: what a strongly typed TensorRT build "
               "(--stronglyTyped; TensorRT 11's only mode) computes it in")  # fmt: skip
    report.add("summary", "Placement summary", _summary_frame(placement),
               "float ops: LayerNorm, Softmax, GELU (Erf) left in float")  # fmt: skip
    report.notes.extend(f"VIOLATION: {v}" for v in placement.violations)
    report.notes.extend(placement.notes)
    return report


def _summary_frame(placement: Placement):
    import pandas as pd

    share = placement.int8_macs_share
    counts = Counter(g.precision for g in placement.gemms)
    floats = {k: n for k, n in counts.items() if k not in ("int8", "MIXED")}
    fp32 = placement.float32_ops()
    summary = {
        "GEMMs in int8 (both inputs Q/DQ)": counts["int8"],
        "GEMMs in float": ", ".join(f"{n} {k}" for k, n in sorted(floats.items())) or "0",
        "GEMMs with one float input": counts["MIXED"],
        "int8 share of GEMM MACs": "n/a" if share is None else f"{share:.1%}",
        "QuantizeLinear / DequantizeLinear": f"{placement.qdq_counts['QuantizeLinear']} / "
        f"{placement.qdq_counts['DequantizeLinear']}",
        "float32 ops outside LayerNorm/Softmax": sum(fp32.values()),
        **{f"float {op}": n for op, n in sorted(placement.float_ops.items())},
    }  # fmt: skip
    return pd.DataFrame([{"what": k, "value": str(v)} for k, v in summary.items()])
