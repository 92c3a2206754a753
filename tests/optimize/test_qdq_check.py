"""The placement check: findings on the tiny Q/DQ export (MACs agree with the aten counter), and one line naming
the node on three tampered files (asymmetric zero point, quantized LayerNorm, a GEMM with one float input)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from swinprof.cli.main import main
from swinprof.optimize.qdq_check import PlacementError, check_onnx, inspect_onnx
from swinprof.profile.macs import count_costs
from tests.optimize.qdq_tiny import SHAPE, tiny_qdq


def test_macs_agree_with_the_aten_counter_and_the_int8_share_is_the_quantized_sites():
    model, fp32, result = tiny_qdq()
    fp = inspect_onnx(fp32)
    total = sum(g.macs for g in fp.gemms)
    assert total == count_costs(model, torch.zeros(1, *SHAPE)).total_macs
    assert fp.int8_macs_share == 0 and not fp.violations
    q = check_onnx(result.path)
    int8 = {g.node for g in q.gemms if g.precision == "int8"}
    assert int8 == {s.node for s in result.quantized}
    assert q.int8_macs_share == pytest.approx(sum(g.macs for g in q.gemms if g.node in int8) / total)
    assert q.float_ops["LayerNormalization"] > 0 and q.float_ops["Softmax"] > 0 and q.float_ops["Erf"] > 0


def _tampered(tmp_path, edit) -> tuple[object, str]:
    _, _, result = tiny_qdq()
    model = onnx.load(str(result.path))
    named = edit(model.graph)
    path = tmp_path / "tampered.onnx"
    onnx.save(model, str(path))
    return path, named


def _asymmetric(graph) -> str:
    """Give the first activation QuantizeLinear's zero point the value 3 (its DequantizeLinear shares it)."""
    q = next(n for n in graph.node if n.op_type == "QuantizeLinear")
    for i, init in enumerate(graph.initializer):
        if init.name == q.input[2]:
            graph.initializer[i].CopyFrom(onnx.numpy_helper.from_array(np.array(3, dtype=np.int8), init.name))
    return q.name


def _quantized_layernorm(graph) -> str:
    """Put a new Q/DQ pair (an existing activation scale and zero point) in front of the last LayerNormalization."""
    q = next(n for n in graph.node if n.op_type == "QuantizeLinear")
    norm = [n for n in graph.node if n.op_type == "LayerNormalization"][-1]
    src, make = norm.input[0], onnx.helper.make_node
    pair = [make("QuantizeLinear", [src, *q.input[1:]], ["ln_q"], name="ln_q"),
            make("DequantizeLinear", ["ln_q", *q.input[1:]], ["ln_dq"], name="ln_dq")]  # fmt: skip
    at = list(graph.node).index(norm)
    for node in reversed(pair):
        graph.node.insert(at, node)
    norm.input[0] = "ln_dq"
    return norm.name


def _one_float_input(graph) -> str:
    """Rewire one quantized MatMul's activation input back to the float tensor ahead of its Q/DQ."""
    producer = {o: n for n in graph.node for o in n.output}
    for node in graph.node:
        dq = producer.get(node.input[0])
        if node.op_type == "MatMul" and dq is not None and dq.op_type == "DequantizeLinear":
            node.input[0] = producer[dq.input[0]].input[0]
            return node.name
    raise AssertionError("no quantized MatMul")


@pytest.mark.parametrize("edit, says", [(_asymmetric, "zero point"), (_quantized_layernorm, "floating point"),
                                        (_one_float_input, "one float input, A")])  # fmt: skip
def test_a_tampered_file_fails_naming_the_node(tmp_path, capsys, edit, says):
    path, node = _tampered(tmp_path, edit)
    with pytest.raises(PlacementError, match=f"'{node}'.*{says}|{says}.*'{node}'"):
        check_onnx(path)
    assert main(["check-onnx", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and node in err[0]


def test_cli_prints_the_summary_of_a_good_file(capsys):
    _, _, result = tiny_qdq()
    assert main(["check-onnx", str(result.path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "int8 share of GEMM MACs" in out and "per-channel" in out
