"""The explicit-Q/DQ ONNX: placement per NVIDIA's transformer guidance, symmetric int8 weights per output channel,
calibrated activation ranges, and numerics in ONNX Runtime against the fp32 model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.onnx import OrtModel, session
from swinprof.optimize.qdq_onnx import (
    activation_amax,
    gemm_sites,
    quantize_weight,
    select_sites,
)
from tests.optimize.qdq_tiny import tiny_qdq
from tests.optimize.tiny import inputs


def _graph(path):
    return onnx.load(str(path)).graph


def test_every_block_linear_and_both_attention_matmuls_are_quantized():
    model, _, result = tiny_qdq()
    linears = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    quantized = [s for s in result.quantized if s.kind == "linear"]
    assert {s.module for s in quantized} == linears - {"head"}
    blocks = [n for n, m in model.named_modules() if n.endswith(".attn") and hasattr(m, "qkv")]
    per_block = {b: sum(s.module == b for s in result.quantized if s.kind == "attention") for b in blocks}
    assert per_block == dict.fromkeys(blocks, 2)  # QK^T and AV of every block
    assert {s.module for s in result.skipped} == {"patch_embed.proj", "head"}


def test_weights_are_int8_per_output_channel_and_zero_points_are_zero():
    _, _, result = tiny_qdq()
    graph = _graph(result.path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    by_output = {n.output[0]: n for n in graph.node}
    matmuls = [n for n in graph.node if n.name in {s.node for s in result.quantized if s.kind == "linear"}]
    for node in matmuls:
        dq = by_output[node.input[1]]
        weight, scale, zero = (inits[t] for t in dq.input)
        axis = next(a.i for a in dq.attribute if a.name == "axis")
        assert weight.dtype == np.int8 and weight.ndim == 2 and axis == 1  # MatMul weight (K, N): N channels
        assert scale.shape == (weight.shape[1],) and not zero.any() and zero.dtype == np.int8
    for node in graph.node:
        if node.op_type == "QuantizeLinear":
            assert inits[node.input[2]].dtype == np.int8 and inits[node.input[2]] == 0
            assert inits[node.input[1]].size == 1  # activations per tensor


def test_weight_quantization_by_hand():
    w = np.array([[1.0, -2.0, 0.0], [0.5, 4.0, 0.0]], dtype=np.float32)  # (K=2, N=3), channel 2 all zero
    q, scale = quantize_weight(w, axis=1)
    np.testing.assert_allclose(scale, [1 / 127, 4 / 127, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(q, [[127, -64, 0], [64, 127, 0]])  # 0.5/(1/127) = 63.5 -> 64; -2/(4/127) = -63.5


def test_calibrators_measure_the_tensor_they_name():
    _, fp32, _ = tiny_qdq()
    model = onnx.load(str(fp32))
    batches = [inputs(2, seed=3, size=64), inputs(3, seed=4, size=64)]
    most = activation_amax(model, ["images"], batches, "max")["images"]
    assert most == pytest.approx(max(b.abs().max().item() for b in batches))
    p = activation_amax(model, ["images"], batches, "percentile", percentile=99.0)["images"]
    expect = np.mean([np.percentile(b.abs().numpy(), 99.0) for b in batches])
    assert p == pytest.approx(expect, rel=1e-6) and p < most


def test_skip_globs_map_to_modules():
    model, fp32, _ = tiny_qdq()
    sites = gemm_sites(_graph(fp32), {n for n, _ in model.named_modules()})
    chosen, left = select_sites(sites, ("*",), ("*.attn",))
    assert all(".attn" not in s.module for s in chosen) and chosen
    assert {s.kind for s in left} == {"linear", "attention"}  # qkv/proj and QK^T/AV all under `*.attn`


def test_ort_runs_the_file_close_to_fp32_at_two_batch_sizes():
    model, _, result = tiny_qdq()
    onnx.checker.check_model(onnx.load(str(result.path)))
    ort = OrtModel(session(result.path))
    for batch in (1, 3):  # dynamic batch
        x = inputs(batch, seed=9, size=64)
        with torch.inference_mode():
            assert sqnr_db(model(x), ort(x)) > 25  # simulated int8 of a random-weight model (30-31 dB seen)
