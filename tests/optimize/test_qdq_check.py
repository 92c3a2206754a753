"""The check of TensorRT's rules: findings on the tiny Q/DQ export (MACs agree with the aten counter), a file with
NVIDIA ModelOpt's patterns that must pass, one tampered file per hard rule that must fail naming the node and the
rule, placement preferences that are notes (not errors), and files that cannot be read."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from swinprof.cli.main import main
from swinprof.optimize.qdq_check import PlacementError, check_onnx, inspect_onnx
from swinprof.optimize.trt_rules import (
    AXIS_OPSET,
    HALF_SCALE_OPSET,
    IMPLICIT_UINT8,
    NO_UINT8,
    PER_CHANNEL_CONSTANT,
    POSITIVE_SCALE,
    QUANT_TYPE,
    RULES,
    SCALE_PER_AXIS,
    SYMMETRIC,
    ZERO_POINT_VOLUME,
)
from swinprof.profile.macs import count_costs
from tests.optimize.qdq_tiny import SHAPE, tiny_fp32, tiny_qdq


def test_macs_agree_with_the_aten_counter_and_the_int8_share_is_the_quantized_sites():
    model, fp32 = tiny_fp32()
    _, _, result = tiny_qdq()
    fp = inspect_onnx(fp32)
    total = sum(g.macs for g in fp.gemms)
    assert total == count_costs(model, torch.zeros(1, *SHAPE)).total_macs
    assert fp.int8_macs_share == 0 and not fp.violations and {g.precision for g in fp.gemms} == {"float32"}
    q = check_onnx(result.path)
    int8 = {g.node for g in q.gemms if g.precision == "int8"}
    assert int8 == {s.node for s in result.quantized}
    assert q.int8_macs_share == pytest.approx(sum(g.macs for g in q.gemms if g.node in int8) / total)
    assert q.float_ops["LayerNormalization"] > 0 and q.float_ops["Softmax"] > 0 and q.float_ops["Erf"] > 0


# ------------------------------------------------------------------------------------------- tampered files


def _edit(tmp_path, edit, source=None) -> tuple[object, str]:
    """Save the tiny mixed Q/DQ file (or `source`) after `edit(model)`; returns (path, the node it names)."""
    model = onnx.load(str(source or tiny_qdq()[2].path))
    named = edit(model)
    path = tmp_path / "tampered.onnx"
    onnx.save(model, str(path))
    return path, named


def _init(graph, name: str) -> np.ndarray:
    return numpy_helper.to_array(next(i for i in graph.initializer if i.name == name))


def _set_init(graph, name: str, value: np.ndarray) -> None:
    for i, init in enumerate(graph.initializer):
        if init.name == name:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))


def _first(graph, op: str, weight: bool = False):
    inits = {i.name for i in graph.initializer}
    return next(n for n in graph.node if n.op_type == op and (n.input[0] in inits) == weight)


def _asymmetric(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    _set_init(model.graph, q.input[2], np.array(3, dtype=np.int8))
    return q.name


def _uint8_zero_point(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    _set_init(model.graph, q.input[2], np.array(0, dtype=np.uint8))
    return q.name


def _no_zero_point(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])
    del q.input[2], dq.input[2]
    return q.name


def _int16(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    _set_init(model.graph, q.input[2], np.array(0, dtype=np.int16))
    return q.name


def _zero_scale(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    _set_init(model.graph, q.input[1], np.array(0, dtype=_init(model.graph, q.input[1]).dtype))
    return q.name


def _short_zero_point(model) -> str:
    dq = _first(model.graph, "DequantizeLinear", weight=True)
    _set_init(model.graph, dq.input[2], _init(model.graph, dq.input[2])[:-1])
    return dq.name


def _short_scale(model) -> str:
    dq = _first(model.graph, "DequantizeLinear", weight=True)
    for t in dq.input[1:]:
        _set_init(model.graph, t, _init(model.graph, t)[:-1])
    return dq.name


def _per_channel_activation(model) -> str:
    q = _first(model.graph, "QuantizeLinear")
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])
    shapes = onnx.shape_inference.infer_shapes(model).graph.value_info
    channels = next(v for v in shapes if v.name == q.input[0]).type.tensor_type.shape.dim[-1].dim_value
    scale = _init(model.graph, q.input[1])
    _set_init(model.graph, q.input[1], np.full(channels, scale, dtype=scale.dtype))
    _set_init(model.graph, q.input[2], np.zeros(channels, dtype=np.int8))
    for node in (q, dq):
        node.attribute.append(helper.make_attribute("axis", -1))
    return q.name


def _half_scale_at_opset_18(model) -> str:
    next(o for o in model.opset_import if o.domain in ("", "ai.onnx")).version = 18
    return next(n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")).name


HARD = {  # rule -> the edit that breaks it
    SYMMETRIC: _asymmetric, NO_UINT8: _uint8_zero_point, IMPLICIT_UINT8: _no_zero_point, QUANT_TYPE: _int16,
    POSITIVE_SCALE: _zero_scale, ZERO_POINT_VOLUME: _short_zero_point, SCALE_PER_AXIS: _short_scale,
    PER_CHANNEL_CONSTANT: _per_channel_activation, HALF_SCALE_OPSET: _half_scale_at_opset_18,
}  # fmt: skip


@pytest.mark.parametrize("rule", list(HARD), ids=lambda r: r.name)
def test_a_file_breaking_a_tensorrt_rule_fails_naming_the_node_and_the_rule(tmp_path, capsys, rule):
    path, node = _edit(tmp_path, HARD[rule])
    with pytest.raises(PlacementError, match=f"'{node}'.*'{rule.name}'"):
        check_onnx(path)
    assert main(["check-onnx", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and node in err[0] and rule.name in err[0]


def test_every_rule_has_a_tampered_file():
    assert set(HARD) | {AXIS_OPSET} == set(RULES)  # AXIS_OPSET: a graph of its own, below


def test_a_per_channel_scale_below_opset_13_fails(tmp_path):
    """DequantizeLinear-10 is per-tensor only: 4 scales at opset 12 break the rule (a graph of its own)."""
    weight = numpy_helper.from_array(np.ones((3, 4), dtype=np.int8), "w")
    scale = numpy_helper.from_array(np.full(4, 0.1, dtype=np.float32), "s")
    zero = numpy_helper.from_array(np.zeros(4, dtype=np.int8), "z")
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], name="dq_w"),
         helper.make_node("MatMul", ["x", "wf"], ["y"], name="mm")],
        "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [weight, scale, zero],
    )  # fmt: skip
    path = tmp_path / "opset12.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    with pytest.raises(PlacementError, match=f"'dq_w'.*'{AXIS_OPSET.name}'"):
        check_onnx(path)


def test_a_qdq_pair_without_zero_point_is_not_counted_as_int8(tmp_path):
    path, node = _edit(tmp_path, _no_zero_point)
    found = inspect_onnx(path)
    reads = [g for g in found.gemms if node.removesuffix("_QuantizeLinear") in (g.a.dq or "") + (g.b.dq or "")]
    assert reads and all(g.precision != "int8" for g in reads)
    assert found.int8_macs_share < check_onnx(tiny_qdq()[2].path).int8_macs_share


# ------------------------------------------------------------------------------------------ what only warns


def _quantized_layernorm(model) -> str:
    """Put a new Q/DQ pair (an existing activation scale and zero point) in front of the last LayerNormalization's
    input cast."""
    graph = model.graph
    q = _first(graph, "QuantizeLinear")
    norm = [n for n in graph.node if n.op_type == "LayerNormalization"][-1]
    cast = next(n for n in graph.node if n.output[0] == norm.input[0])
    src, make = cast.input[0], helper.make_node
    pair = [make("QuantizeLinear", [src, *q.input[1:]], ["ln_q"], name="ln_q"),
            make("DequantizeLinear", ["ln_q", *q.input[1:]], ["ln_dq"], name="ln_dq")]  # fmt: skip
    at = list(graph.node).index(cast)
    for node in reversed(pair):
        graph.node.insert(at, node)
    cast.input[0] = "ln_dq"
    return norm.name


def _one_float_input(model) -> str:
    """Rewire one quantized MatMul's activation input back to the float tensor ahead of its Q/DQ."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    for node in graph.node:
        dq = producer.get(node.input[0])
        if node.op_type == "MatMul" and dq is not None and dq.op_type == "DequantizeLinear":
            node.input[0] = producer[dq.input[0]].input[0]
            return node.name
    raise AssertionError("no quantized MatMul")


@pytest.mark.parametrize("edit, says", [(_quantized_layernorm, "reads a DequantizeLinear"),
                                        (_one_float_input, "one float input, A")])  # fmt: skip
def test_placement_preferences_are_notes_not_errors(tmp_path, capsys, edit, says):
    path, node = _edit(tmp_path, edit)
    placement = check_onnx(path)
    assert any(node in n and says in n for n in placement.notes)
    assert main(["check-onnx", str(path), "--format", "markdown"]) == 0
    assert says in capsys.readouterr().out


def _modelopt_patterns(model) -> str:
    """ModelOpt's ONNX PTQ patterns on the tiny mixed file with residual Q/DQ: float32 weights quantized in the
    graph (Q then DQ, the Q with a float32 scale, the DQ with the float16 one) and Q/DQ before every LayerNorm."""
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]:
        q8, scale = _init(graph, dq.input[0]), _init(graph, dq.input[1]).astype(np.float32)
        axis = next(a.i for a in dq.attribute if a.name == "axis")
        shape = [1] * q8.ndim
        shape[axis] = -1
        base = dq.input[0].removesuffix("_int8")
        graph.initializer.extend([numpy_helper.from_array(q8 * scale.reshape(shape), f"{base}_fp32"),
                                  numpy_helper.from_array(scale, f"{base}_scale_fp32")])  # fmt: skip
        q = helper.make_node("QuantizeLinear", [f"{base}_fp32", f"{base}_scale_fp32", dq.input[2]], [f"{base}_q"],
                             name=f"{base}_QuantizeLinear", axis=axis)  # fmt: skip
        graph.node.insert(list(graph.node).index(dq), q)
        dq.input[0] = f"{base}_q"
    for norm in [n for n in graph.node if n.op_type == "LayerNormalization"]:
        _quantize_layernorm_input(graph, norm)
    return ""


def _quantize_layernorm_input(graph, norm) -> None:
    q = _first(graph, "QuantizeLinear")
    cast = next(n for n in graph.node if n.output[0] == norm.input[0])
    src, name = cast.input[0], norm.name
    pair = [helper.make_node("QuantizeLinear", [src, *q.input[1:]], [f"{name}_q"], name=f"{name}_in_Q"),
            helper.make_node("DequantizeLinear", [f"{name}_q", *q.input[1:]], [f"{name}_dq"], name=f"{name}_in_DQ")]
    at = list(graph.node).index(cast)
    for node in reversed(pair):
        graph.node.insert(at, node)
    cast.input[0] = f"{name}_dq"


def test_a_file_with_modelopt_patterns_passes_with_its_table(tmp_path, capsys):
    _, _, result = tiny_qdq(residual=True)
    path, _ = _edit(tmp_path, _modelopt_patterns, result.path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    placement = check_onnx(path)
    assert not placement.violations
    assert placement.int8_macs_share == check_onnx(result.path).int8_macs_share > 0.9
    assert any("LayerNormalization" in n and "reads a DequantizeLinear" in n for n in placement.notes)
    assert main(["check-onnx", str(path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "int8 share of GEMM MACs" in out and "per-channel" in out and "float16" in out


# ---------------------------------------------------------------------------------------- unreadable files


def _cyclic(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["a"], name="first"), helper.make_node("MatMul", ["a", "w"], ["b"],
                                                                                    name="second")],
        "cycle", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 2])],
        [numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")],
    )  # fmt: skip
    path = tmp_path / "cycle.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())  # onnx.save would not check, but be explicit
    return path


def _no_gemm(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])  # fmt: skip
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def _external(tmp_path):
    _, fp32 = tiny_fp32()
    model = onnx.load(str(fp32))
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0)
    return folder / "m.onnx"


def _missing_external(tmp_path):
    path = _external(tmp_path)
    (path.parent / "m.data").unlink()
    return path


def _empty(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    return tmp_path / "empty.onnx"


@pytest.mark.parametrize("make, says", [
    (_empty, "empty file"),
    (_cyclic, "cycle through node"), (_missing_external, "external data"), (_no_gemm, "no MatMul, Gemm or Conv"),
])  # fmt: skip
def test_a_file_that_cannot_be_checked_is_one_line_and_exit_2(tmp_path, capsys, make, says):
    path = make(tmp_path)
    assert main(["check-onnx", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_external_data_is_read_beside_the_file_from_any_working_directory(tmp_path, monkeypatch, capsys):
    path = _external(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["check-onnx", str(path), "--format", "csv"]) == 0
    assert "int8 share of GEMM MACs" in capsys.readouterr().out
