"""Q/DQ insertion into an fp32 ONNX graph: symmetric int8 scales, per-channel weights, per-tensor activations.

Weights become int8 initializers feeding a DequantizeLinear (`axis` = the output-channel axis); an activation gets a
QuantizeLinear -> DequantizeLinear pair whose scale covers its calibrated range. Only the chosen consumers read the
pair's output; every other consumer keeps the float tensor. Scales are made exactly representable in the file's
high precision (`scale_dtype`): a float16 file stores float16 scales, and its int8 weights are rounded against
those very scales, so what ONNX Runtime (and TensorRT) multiply back is what the weights were divided by.

Every tensor the insertion writes is recorded in the file's rename map (`ort_tensors.TENSOR_SOURCES`):
`x_qdq_dq` stands for `x` after Q/DQ.
"""

from __future__ import annotations

import numpy as np

from swinprof.errors import require_extra
from swinprof.optimize.ort_tensors import record_sources

INT8_MAX = 127  # symmetric narrow range [-127, 127]: zero point 0, as TensorRT's int8 is symmetric
HIGH_PRECISIONS = {"fp16": np.float16, "fp32": np.float32}


def representable_scale(scale: np.ndarray, dtype=np.float32) -> np.ndarray:
    """`scale` (float32) moved to the nearest value of `dtype` at or above it (never below: a smaller scale
    would clip the largest value), and never 0 (TensorRT refuses scales that are not positive); as float32."""
    if np.dtype(dtype) == np.float32:
        return scale.astype(np.float32)
    info = np.finfo(dtype)
    low = np.atleast_1d(np.maximum(scale, info.smallest_subnormal).astype(dtype))
    below = low.astype(np.float32) < np.atleast_1d(scale)
    low[below] = np.nextafter(low[below], dtype(np.inf))
    return low.astype(np.float32).reshape(np.shape(scale))


def symmetric_scale(amax: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Symmetric int8 scale of an absolute range; an all-zero channel gets scale 1 (any scale represents it)."""
    scale = np.where(amax > 0, amax / INT8_MAX, 1.0).astype(np.float32)
    return representable_scale(scale, dtype)


def weight_axis(node, rank: int) -> int:
    """The output-channel axis of a GEMM's weight: N of MatMul's (K, N), O of Conv's (O, I, kh, kw), and of
    Gemm's B per its transB."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return rank - 1


def quantize_weight(w: np.ndarray, axis: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """`(int8 weight, per-channel scale along axis)`: symmetric, round to nearest, narrow range; the scale is
    representable in `dtype` and the weight is rounded against it."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    scale = symmetric_scale(np.abs(w).max(axis=other), dtype)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale


class QdqInserter:
    """Adds Q/DQ nodes and their initializers to a graph, one pair per activation tensor and one DQ per weight."""

    def __init__(self, graph, scale_dtype=np.float32) -> None:
        self.onnx = require_extra("onnx", "onnx", "ONNX Q/DQ insertion")
        self.graph, self.scale_dtype = graph, scale_dtype
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
            scale = self._const(f"{base}_scale", symmetric_scale(np.array(amax, dtype=np.float32), self.scale_dtype))
            zero = self._const(f"{base}_zero_point", np.array(0, dtype=np.int8))
            make = self.onnx.helper.make_node
            q = make("QuantizeLinear", [tensor, scale, zero], [f"{base}_q"], name=f"{base}_QuantizeLinear")
            dq = make("DequantizeLinear", [f"{base}_q", scale, zero], [f"{base}_dq"], name=f"{base}_DequantizeLinear")
            self.new_nodes[tensor] = [q, dq]
            self.done[tensor] = f"{base}_dq"
        return self.done[tensor]

    def weight(self, name: str, node) -> str:
        """The name of weight initializer `name` as int8 per-channel -> DequantizeLinear."""
        if name not in self.done:
            w = self.onnx.numpy_helper.to_array(self.inits[name]).astype(np.float32)
            axis = weight_axis(node, w.ndim)
            q, scale = quantize_weight(w, axis, self.scale_dtype)
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

    def finish(self, model) -> None:
        """Reorder: every inserted node right after its input's producer (graph inputs and weights first), drop
        float weights no node reads any more, and record what each new tensor stands for."""
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
        record_sources(model, {dq: source for source, dq in self.done.items()})
