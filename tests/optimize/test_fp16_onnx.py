"""The fp16 ONNX for strongly typed builds: fp16 weights and activations, LayerNorm/Softmax in fp32 between Casts,
float32 at the graph's ends, and logits close to fp32 in ONNX Runtime."""

from __future__ import annotations

import onnx
import pytest
import torch

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.fp16_onnx import FP32_OPS, Fp16Error, export_fp16
from swinprof.optimize.onnx import OrtModel, session
from swinprof.optimize.qdq_check import check_onnx
from tests.optimize.qdq_tiny import tiny_fp32
from tests.optimize.tiny import inputs

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def assert_fp16_file(path) -> None:
    """What makes a file the fp16 export: every GEMM and every op but LayerNorm/Softmax computes in float16,
    those two in float32 (between casts), and the graph's input and output stay float32."""
    placement = check_onnx(path)
    assert {g.precision for g in placement.gemms} == {"float16"}, "GEMMs are not float16"
    for op, kinds in placement.precisions.items():
        assert set(kinds) == ({"float32"} if op in FP32_OPS else {"float16"}), f"{op} computes in {dict(kinds)}"
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == F32 and graph.output[0].type.tensor_type.elem_type == F32


def test_the_fp16_check_fails_on_an_unconverted_fp32_file():
    _, fp32 = tiny_fp32()
    with pytest.raises(AssertionError, match="not float16"):
        assert_fp16_file(fp32)


def test_types_and_numerics(tmp_path):
    model, fp32 = tiny_fp32()
    path = export_fp16(fp32, tmp_path / "tiny.fp16.onnx")
    assert_fp16_file(path)
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


def test_an_initializer_shared_by_a_layernorm_and_an_add_is_split(tmp_path):
    """The exporter deduplicates equal constants (a zero LayerNorm bias and a zero Linear bias become one): the
    LayerNorm gets a float32 copy, the Add reads float16."""
    import numpy as np
    from onnx import helper, numpy_helper

    zeros = numpy_helper.from_array(np.zeros(4, np.float32), "zeros")
    ones = numpy_helper.from_array(np.ones(4, np.float32), "ones")
    graph = helper.make_graph(
        [helper.make_node("LayerNormalization", ["x", "ones", "zeros"], ["n"], name="ln"),
         helper.make_node("Add", ["n", "zeros"], ["y"], name="add")],
        "shared", [helper.make_tensor_value_info("x", F32, [2, 4])], [helper.make_tensor_value_info("y", F32, [2, 4])],
        [zeros, ones],
    )  # fmt: skip
    src = tmp_path / "shared.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(src))
    out = onnx.load(str(export_fp16(src, tmp_path / "shared.fp16.onnx"))).graph
    types = {i.name: i.data_type for i in out.initializer}
    ln, add = (next(n for n in out.node if n.name == name) for name in ("ln", "add"))
    assert types[ln.input[2]] == F32 and types[add.input[1]] == F16 and ln.input[2] != add.input[1]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    y = session(tmp_path / "shared.fp16.onnx").run(None, {"x": x})[0]
    mean, std = x.mean(1, keepdims=True), x.std(1, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(std**2 + 1e-5), atol=2e-3)


def test_a_decomposed_layernorm_is_refused(tmp_path):
    """An exporter below opset 17 writes LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div: converted op by op it would
    run in float16, so the conversion refuses it."""
    from onnx import helper

    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=1, axes=[-1]),
             helper.make_node("Sub", ["x", "m"], ["d"]), helper.make_node("Mul", ["d", "d"], ["v"]),
             helper.make_node("Sqrt", ["v"], ["y"])]  # fmt: skip
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", F32, [2, 4])],
                              [helper.make_tensor_value_info("y", F32, [2, 4])])  # fmt: skip
    src = tmp_path / "ln16.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)]), str(src))
    with pytest.raises(Fp16Error, match="opset 17"):
        export_fp16(src, tmp_path / "ln16.fp16.onnx")
