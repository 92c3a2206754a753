"""An fp16 ONNX for TensorRT's strongly typed builds (`trtexec --stronglyTyped`, the only mode of TensorRT 11).

A strongly typed network runs each layer in the type its graph says, so fp16 must be in the file: weights and
activations become float16, while LayerNormalization and Softmax (reductions whose sums lose accuracy in fp16:
TensorRT's guidance keeps them in fp32) read a Cast to float32 and write a Cast back to float16, with their
scale/bias initializers left in float32. The graph's input `images` and output `logits` stay float32 (Casts at
both ends), so the file is a drop-in replacement for the fp32 export.

On an explicit-Q/DQ graph the same conversion makes the mixed int8 file: int8 weights and zero points stay int8,
scales become float16, so every DequantizeLinear writes float16 (the scale's type, as TensorRT's strongly typed
import reads it). Float16 scales need QuantizeLinear/DequantizeLinear-19, so such a graph is moved to opset 19.
The tensors the conversion adds are recorded in the file's rename map (`ort_tensors.TENSOR_SOURCES`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from swinprof.errors import SwinprofError, require_extra
from swinprof.optimize.ort_tensors import record_sources
from swinprof.optimize.trt_rules import QDQ_OPS, opset_of

FP32_OPS = ("LayerNormalization", "Softmax")
QDQ_FP16_OPSET = 19  # QuantizeLinear/DequantizeLinear take float16 scales from opset 19 on
# Ops whose attributes carry a float type or value the conversion would have to rewrite; none is in swinprof's
# exports, so a graph holding one is refused rather than half converted.
TYPED_OPS = ("ConstantOfShape", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike")


class Fp16Error(SwinprofError):
    """The graph cannot be converted to float16 as it stands (an op whose float type cannot be rewritten, or
    LayerNorm decomposed by an old exporter)."""


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
            raise Fp16Error(f"fp16 conversion: {node.op_type} {node.name!r} carries a float type it cannot rewrite")
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == f32:
                attr.i = f16
            if node.op_type == "Constant" and attr.name == "value" and attr.t.data_type == f32:
                half = onnx.numpy_helper.to_array(attr.t).astype(np.float16)
                attr.t.CopyFrom(onnx.numpy_helper.from_array(half, attr.t.name))


def _check_layernorm(graph) -> None:
    """Refuse a graph whose LayerNorm was decomposed (the torchscript exporter below opset 17 writes
    ReduceMean/Pow/Sqrt): converted op by op, its reductions would silently run in float16."""
    ops = {n.op_type for n in graph.node}
    if "LayerNormalization" not in ops and {"ReduceMean", "Sqrt"} <= ops:
        raise Fp16Error("the graph computes LayerNorm from ReduceMean/Sqrt (an exporter below opset 17): its "
                        "float16 version would run LayerNorm in float16; export with opset 17 or later")  # fmt: skip


def _at_least_opset(onnx, model, opset: int) -> None:
    """Move `model` to `opset` when it is older (ONNX's version converter, which rewrites what changed; the
    nodes' metadata, e.g. the exporter's module scopes, is carried over by node name: the converter drops it)."""
    current = opset_of(model)
    if current < opset:
        metadata = {n.name: list(n.metadata_props) for n in model.graph.node if n.metadata_props}
        converted = onnx.version_converter.convert_version(model, opset)
        del converted.graph.value_info[:]  # the converter's inferred float32 annotations; types change next
        for node in converted.graph.node:
            if node.name in metadata and not node.metadata_props:
                node.metadata_props.extend(metadata[node.name])
        model.CopyFrom(converted)


def to_fp16(model):
    """`model` (an fp32 ModelProto, plain or explicit-Q/DQ; edited in place and returned) in float16 with fp32
    LayerNorm/Softmax; a Q/DQ graph also moves to opset 19 for its float16 scales."""
    onnx = require_extra("onnx", "onnx", "the fp16 ONNX conversion")
    graph = model.graph
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    _check_layernorm(graph)
    del graph.value_info[:]  # recomputed by shape inference; the fp32 annotations would now be wrong
    if any(n.op_type in QDQ_OPS for n in graph.node):
        _at_least_opset(onnx, model, QDQ_FP16_OPSET)
        graph = model.graph
    fp32_inits = _own_fp32_parameters(onnx, graph)
    _retype_constants(onnx, graph, fp32_inits)
    nodes, renamed = [], {}  # renamed: {tensor this conversion writes: the fp32 tensor it stands for}
    for value in graph.input:  # images (float32) -> Cast -> every consumer
        if value.type.tensor_type.elem_type == f32:
            nodes.append(_cast(onnx, value.name, f"{value.name}_fp16", f16))
            renamed[f"{value.name}_fp16"] = value.name
            for node in graph.node:
                node.input[:] = [f"{value.name}_fp16" if t == value.name else t for t in node.input]
    outputs = {o.name for o in graph.output if o.type.tensor_type.elem_type == f32}
    for node in graph.node:
        if node.op_type in FP32_OPS:
            source, out = node.input[0], node.output[0]
            nodes.append(_cast(onnx, source, f"{node.name}_in_fp32", f32))
            node.input[0], node.output[0] = f"{node.name}_in_fp32", f"{node.name}_out_fp32"
            nodes += [node, _cast(onnx, node.output[0], out, f16)]
            renamed.update({node.input[0]: renamed.get(source, source), node.output[0]: out})
            continue
        nodes.append(node)
    for node in nodes:  # logits: the last producer writes fp16, a Cast writes the float32 output
        for i, out in enumerate(node.output):
            if out in outputs:
                node.output[i] = f"{out}_fp16"
                renamed[node.output[i]] = out
    nodes.extend(_cast(onnx, f"{out}_fp16", out, f32) for out in outputs)
    del graph.node[:]
    graph.node.extend(nodes)
    record_sources(model, renamed)
    return model


def export_fp16(fp32_path: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the fp16 version of the fp32 ONNX file `fp32_path` at `dst` (checked by onnx.checker)."""
    onnx = require_extra("onnx", "onnx", "the fp16 ONNX conversion")
    model = to_fp16(onnx.load(str(fp32_path)))
    onnx.checker.check_model(model, full_check=True)
    dst = Path(dst)
    onnx.save(model, str(dst))
    return dst
