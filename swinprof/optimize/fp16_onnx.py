"""An fp16 ONNX for TensorRT's strongly typed builds (`trtexec --stronglyTyped`, the only mode of TensorRT 11).

A strongly typed network runs each layer in the type its graph says, so fp16 must be in the file: weights and
activations become float16, while LayerNormalization and Softmax (reductions whose sums lose accuracy in fp16:
TensorRT's guidance keeps them in fp32) read a Cast to float32 and write a Cast back to float16, with their
scale/bias initializers left in float32. The graph's input `images` and output `logits` stay float32 (Casts at
both ends), so the file is a drop-in replacement for the fp32 export.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from swinprof.errors import require_extra
from swinprof.optimize.qdq_onnx import QdqError

FP32_OPS = ("LayerNormalization", "Softmax")
# Ops whose attributes carry a float type or value the conversion would have to rewrite; none is in swinprof's
# exports, so a graph holding one is refused rather than half converted.
TYPED_OPS = ("ConstantOfShape", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike")


def _cast(onnx, src: str, dst: str, to: int):
    return onnx.helper.make_node("Cast", [src], [dst], name=f"{dst}_Cast", to=to)


def _own_fp32_parameters(onnx, graph) -> set[str]:
    """The initializers LayerNorm/Softmax read (kept float32), each their own: the exporter deduplicates equal
    constants, so a LayerNorm bias of zeros can be the very initializer a Linear's zero bias reads, and that one
    must become float16. A shared one gets a float32 copy for the fp32 ops."""
    inits = {i.name: i for i in graph.initializer}
    fp32_nodes = [n for n in graph.node if n.op_type in FP32_OPS]
    other_uses = {t for n in graph.node if n.op_type not in FP32_OPS for t in n.input}
    kept = set()
    for node in fp32_nodes:
        for i, t in enumerate(node.input):
            if i == 0 or t not in inits:
                continue
            if t in other_uses:
                copy = f"{t}_fp32"
                if copy not in inits:
                    inits[copy] = onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(inits[t]), copy)
                    graph.initializer.append(inits[copy])
                node.input[i] = t = copy
            kept.add(t)
    return kept


def _retype_constants(onnx, graph, fp32_inits: set[str]) -> None:
    """float32 initializers (except `fp32_inits`), Constant values and Cast targets -> float16."""
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    for i, init in enumerate(graph.initializer):
        if init.data_type == f32 and init.name not in fp32_inits:
            half = onnx.numpy_helper.to_array(init).astype(np.float16)
            graph.initializer[i].CopyFrom(onnx.numpy_helper.from_array(half, init.name))
    for node in graph.node:
        if node.op_type in TYPED_OPS:
            raise QdqError(f"fp16 conversion: {node.op_type} {node.name!r} carries a float type it cannot rewrite")
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == f32:
                attr.i = f16
            if node.op_type == "Constant" and attr.name == "value" and attr.t.data_type == f32:
                half = onnx.numpy_helper.to_array(attr.t).astype(np.float16)
                attr.t.CopyFrom(onnx.numpy_helper.from_array(half, attr.t.name))


def to_fp16(model):
    """`model` (an fp32 ModelProto, edited in place and returned) in float16 with fp32 LayerNorm/Softmax."""
    onnx = require_extra("onnx", "onnx", "the fp16 ONNX conversion")
    graph = model.graph
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    del graph.value_info[:]  # recomputed by shape inference; the fp32 annotations would now be wrong
    fp32_inits = _own_fp32_parameters(onnx, graph)
    _retype_constants(onnx, graph, fp32_inits)
    nodes = []
    for value in graph.input:  # images (float32) -> Cast -> every consumer
        if value.type.tensor_type.elem_type == f32:
            nodes.append(_cast(onnx, value.name, f"{value.name}_fp16", f16))
            for node in graph.node:
                node.input[:] = [f"{value.name}_fp16" if t == value.name else t for t in node.input]
    outputs = {o.name for o in graph.output if o.type.tensor_type.elem_type == f32}
    for node in graph.node:
        if node.op_type in FP32_OPS:
            nodes.append(_cast(onnx, node.input[0], f"{node.name}_in_fp32", f32))
            node.input[0] = f"{node.name}_in_fp32"
            out = node.output[0]
            node.output[0] = f"{node.name}_out_fp32"
            nodes.append(node)
            nodes.append(_cast(onnx, node.output[0], out, f16))
            continue
        nodes.append(node)
    for node in nodes:  # logits: the last producer writes fp16, a Cast writes the float32 output
        for i, out in enumerate(node.output):
            if out in outputs:
                node.output[i] = f"{out}_fp16"
    nodes.extend(_cast(onnx, f"{out}_fp16", out, f32) for out in outputs)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def export_fp16(fp32_path: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the fp16 version of the fp32 ONNX file `fp32_path` at `dst` (checked by onnx.checker)."""
    onnx = require_extra("onnx", "onnx", "the fp16 ONNX conversion")
    model = to_fp16(onnx.load(str(fp32_path)))
    onnx.checker.check_model(model, full_check=True)
    dst = Path(dst)
    onnx.save(model, str(dst))
    return dst
