"""Explicit-quantization ONNX for TensorRT: QuantizeLinear/DequantizeLinear pairs inserted into the fp32 export.

TensorRT 10 and 11 build int8 only from explicit Q/DQ nodes (TensorRT 11 builds strongly typed networks only: no
INT8 builder flag, no calibrator). The placement follows NVIDIA's guidance for transformer blocks:
- both inputs of every GEMM go through Q/DQ: the Linear layers (qkv, proj, fc1, fc2, patch merging reduction; ONNX
  MatMul/Gemm with a weight initializer) and the attention MatMuls (QK^T, AV; two activation inputs);
- LayerNorm, Softmax and GELU stay in floating point (nothing is inserted before them), and so do residual adds:
  a Q/DQ pair feeds only the GEMMs that consume a tensor, the other consumers keep the float tensor;
- symmetric int8 (zero point 0): weights per output channel, stored as int8 initializers feeding a
  DequantizeLinear (`axis` = the output-channel axis: 1 for MatMul's (K, N) weight, 0 for Conv and Gemm with
  transB), activations per tensor with the scale calibrated from the fp32 graph's own activations in ONNX Runtime.

Why not NVIDIA ModelOpt (`nvidia-modelopt`): its ONNX PTQ (`modelopt[onnx]` 0.47) pulls `onnxruntime-gpu` 1.24
(the same import name as the CPU `onnxruntime` this project uses), `cupy-cuda12x` and an older `onnx` (1.21); its
torch quantizer sees `nn.Linear`/`nn.Conv2d` modules but not the attention MatMuls, which swinprof's attention
computes with functional `@`. The insertion below is plain `onnx` graph editing, checked by `qdq_check`.

Graph layout (dynamo exporter, opset 18): input `images (B, 3, H, W)` float32, output `logits (B, classes)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from swinprof.errors import InvalidOptionError, SwinprofError, require_extra
from swinprof.optimize.onnx import INPUT_NAME, _module_scopes
from swinprof.optimize.selection import matches as _matches  # the recipes' glob rule: a module or any ancestor matches

GEMM_OPS = ("MatMul", "Gemm", "Conv")
CALIBRATORS = ("max", "percentile")
INT8_MAX = 127  # symmetric narrow range [-127, 127]: zero point 0, as TensorRT's int8 is symmetric


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
    """What `quantize_qdq` wrote: the file, the sites quantized and skipped, and where the activation ranges
    came from."""

    path: Path
    quantized: list[GemmSite]
    skipped: list[GemmSite]
    calibration: str
    activation_amax: dict[str, float] = field(default_factory=dict)


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
    model, tensors: Sequence[str], batches: Sequence[torch.Tensor], calibrator: str = "max", percentile: float = 99.99
) -> dict[str, float]:
    """Per tensor, the absolute range its int8 scale covers: the largest |x| over the calibration batches
    (`max`) or the mean over batches of the `percentile` of |x| (`percentile`); observed by running the fp32
    graph in ONNX Runtime with the tensors added as outputs."""
    onnx = require_extra("onnx", "onnx", "ONNX calibration")
    ort = require_extra("onnxruntime", "onnx", "ONNX calibration")
    if calibrator not in CALIBRATORS:
        raise InvalidOptionError(f"unknown calibrator {calibrator!r}; choose one of: {', '.join(CALIBRATORS)}")
    if not batches:
        raise QdqError("Q/DQ calibration needs at least one batch of images")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors if t not in known
    )
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    found: dict[str, list[float]] = {t: [] for t in tensors}
    for batch in _fitted(model, batches):
        outs = sess.run(list(tensors), {INPUT_NAME: batch.detach().cpu().numpy().astype(np.float32)})
        for t, value in zip(tensors, outs, strict=True):
            a = np.abs(value).ravel()
            found[t].append(float(a.max() if calibrator == "max" else np.percentile(a, percentile)))
    reduce = max if calibrator == "max" else lambda v: float(np.mean(v))
    return {t: reduce(v) for t, v in found.items()}


def _fitted(model, batches: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The batches as the graph takes them: split into the graph's own batch size when its batch is static."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    static = dim.dim_value if dim.HasField("dim_value") else 0
    return [part for b in batches for part in (b.split(static) if static else [b])]


def _scale(amax: np.ndarray) -> np.ndarray:
    """Symmetric int8 scale; an all-zero channel gets scale 1 (any scale represents it exactly)."""
    return np.where(amax > 0, amax / INT8_MAX, 1.0).astype(np.float32)


def _weight_axis(node, rank: int) -> int:
    """The output-channel axis of a GEMM's weight: N of MatMul's (K, N), O of Conv's (O, I, kh, kw), and of
    Gemm's B per its transB."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return rank - 1


def quantize_weight(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """`(int8 weight, per-channel scale along axis)`: symmetric, round to nearest, narrow range."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    scale = _scale(np.abs(w).max(axis=other))
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale


class _Inserter:
    """Adds Q/DQ nodes and their initializers to a graph, one pair per activation tensor and one DQ per weight."""

    def __init__(self, onnx, graph) -> None:
        self.onnx, self.graph = onnx, graph
        self.inits = {i.name: i for i in graph.initializer}
        self.new_nodes: dict[str, list] = {}  # tensor name -> the nodes to place right after its producer
        self.done: dict[str, str] = {}

    def _const(self, name: str, array: np.ndarray) -> str:
        self.graph.initializer.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def activation(self, tensor: str, amax: float) -> str:
        """The name of `tensor` after a per-tensor symmetric Q -> DQ pair."""
        if tensor not in self.done:
            base = f"{tensor}_qdq"
            scale = self._const(f"{base}_scale", _scale(np.array(amax, dtype=np.float32)))
            zero = self._const(f"{base}_zero_point", np.array(0, dtype=np.int8))
            make = self.onnx.helper.make_node
            q = make("QuantizeLinear", [tensor, scale, zero], [f"{base}_q"], name=f"{base}_QuantizeLinear")
            dq = make("DequantizeLinear", [f"{base}_q", scale, zero], [f"{base}_dq"], name=f"{base}_DequantizeLinear")
            self.new_nodes[tensor] = [q, dq]
            self.done[tensor] = f"{base}_dq"
        return self.done[tensor]

    def weight(self, name: str, node) -> str:
        """The name of weight initializer `name` as int8 per-channel -> DequantizeLinear (float32 out)."""
        if name not in self.done:
            w = self.onnx.numpy_helper.to_array(self.inits[name]).astype(np.float32)
            axis = _weight_axis(node, w.ndim)
            q, scale = quantize_weight(w, axis)
            base = f"{name}_qdq"
            q_name = self._const(f"{base}_int8", q)
            scale_name = self._const(f"{base}_scale", scale)
            zero = self._const(f"{base}_zero_point", np.zeros(scale.shape, dtype=np.int8))
            dq = self.onnx.helper.make_node(
                "DequantizeLinear", [q_name, scale_name, zero], [f"{base}_dq"], name=f"{base}_DequantizeLinear",
                axis=axis,
            )  # fmt: skip
            self.new_nodes.setdefault(name, []).append(dq)
            self.done[name] = f"{base}_dq"
        return self.done[name]

    def finish(self) -> None:
        """Reorder: every inserted node right after its input's producer (graph inputs and weights first), and
        drop float weights no node reads any more."""
        produced = {out for node in self.graph.node for out in node.output}
        placed = [n for t, nodes in self.new_nodes.items() if t not in produced for n in nodes]
        for node in self.graph.node:
            placed.append(node)
            for out in node.output:
                placed.extend(self.new_nodes.get(out, []))
        del self.graph.node[:]
        self.graph.node.extend(placed)
        used = {i for n in self.graph.node for i in n.input}
        keep = [i for i in self.graph.initializer if i.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)


def insert_qdq(model, sites: Sequence[GemmSite], amax: dict[str, float]):
    """`model` (an fp32 ModelProto, edited in place and returned) with Q/DQ on both inputs of every site."""
    onnx = require_extra("onnx", "onnx", "ONNX Q/DQ insertion")
    graph = model.graph
    inserter = _Inserter(onnx, graph)
    wanted = {s.node for s in sites}
    for node in graph.node:
        if node.name not in wanted:
            continue
        for i, tensor in enumerate(list(node.input)[:2]):
            weight = tensor in inserter.inits
            node.input[i] = inserter.weight(tensor, node) if weight else inserter.activation(tensor, amax[tensor])
    inserter.finish()
    return model


def quantize_qdq(
    fp32_path: str | os.PathLike,
    dst: str | os.PathLike,
    batches: Sequence[torch.Tensor],
    calibration: str,
    include: Iterable[str] = ("*",),
    skip: Iterable[str] = (),
    modules: set[str] | None = None,
    calibrator: str = "max",
    percentile: float = 99.99,
) -> QdqResult:
    """Write the explicit-Q/DQ int8 version of the fp32 ONNX file `fp32_path` at `dst`.

    `batches`: `(B, 3, H, W)` calibration inputs; `calibration` says where they came from (for the report);
    `include`/`skip`: module-name globs; `modules`: the model's module names (attributes QK^T/AV to `*.attn`).
    """
    onnx = require_extra("onnx", "onnx", "ONNX Q/DQ export")
    model = onnx.load(str(fp32_path))
    del model.graph.value_info[:]  # the exporter's intermediate annotations can disagree with inference (onnx.py)
    chosen, left = select_sites(gemm_sites(model.graph, modules), include, skip)
    if not chosen:
        raise QdqError("the include/skip globs select no MatMul/Gemm/Conv of the ONNX graph")
    tensors = activation_inputs(model.graph, chosen)
    amax = activation_amax(model, tensors, batches, calibrator, percentile)
    insert_qdq(model, chosen, amax)
    onnx.checker.check_model(model)
    dst = Path(dst)
    onnx.save(model, str(dst))
    return QdqResult(dst, chosen, left, f"{calibration}, {calibrator} calibrator", amax)
