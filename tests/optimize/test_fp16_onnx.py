"""The fp16 ONNX for strongly typed builds: fp16 weights and activations, LayerNorm/Softmax in fp32 between Casts,
float32 at the graph's ends, and logits close to fp32 in ONNX Runtime."""

from __future__ import annotations

import onnx
import torch

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.fp16_onnx import FP32_OPS, export_fp16
from swinprof.optimize.onnx import OrtModel, session
from tests.optimize.qdq_tiny import tiny_qdq
from tests.optimize.tiny import inputs

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def test_types_and_numerics(tmp_path):
    model, fp32, _ = tiny_qdq()
    path = export_fp16(fp32, tmp_path / "tiny.fp16.onnx")
    graph = onnx.load(str(path)).graph
    inits = {i.name: i.data_type for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    matmul_weights = [n.input[1] for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    assert matmul_weights and all(inits[w] == F16 for w in matmul_weights)
    for node in (n for n in graph.node if n.op_type in FP32_OPS):
        cast = producer[node.input[0]]
        assert cast.op_type == "Cast" and cast.attribute[0].i == F32  # reduction reads fp32
        assert all(inits[t] == F32 for t in node.input[1:] if t in inits)  # LayerNorm scale/bias stay fp32
    assert graph.input[0].type.tensor_type.elem_type == F32 and graph.output[0].type.tensor_type.elem_type == F32
    x = inputs(2, seed=5, size=64)
    with torch.inference_mode():
        assert sqnr_db(model(x), OrtModel(session(path))(x)) > 40  # fp16 rounding only (~60 dB seen)
