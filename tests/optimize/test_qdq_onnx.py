"""The explicit-Q/DQ ONNX: placement per NVIDIA's transformer guidance, symmetric int8 weights per output channel,
calibrated activation ranges, the mixed file (fp16 around the int8 GEMMs) and its fp32-high-precision variant, the
placement options, the recorded rename map, and numerics in ONNX Runtime against the fp32 model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.measure.inputs import iter_seeded_batches
from swinprof.optimize.onnx import OrtModel, session
from swinprof.optimize.ort_tensors import tensor_sources
from swinprof.optimize.qdq_check import check_onnx
from swinprof.optimize.qdq_insert import quantize_weight, representable_scale
from swinprof.optimize.qdq_onnx import activation_amax, gemm_sites, quantize_qdq, select_sites
from tests.optimize.qdq_tiny import SHAPE, session_folder, tiny_fp32, tiny_qdq
from tests.optimize.tiny import inputs

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


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


@pytest.mark.parametrize("high", ["fp16", "fp32"])
def test_weights_are_int8_per_output_channel_and_zero_points_are_zero(high):
    _, _, result = tiny_qdq(high)
    graph = _graph(result.path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    by_output = {n.output[0]: n for n in graph.node}
    matmuls = [n for n in graph.node if n.name in {s.node for s in result.quantized if s.kind == "linear"}]
    scale_type = np.float16 if high == "fp16" else np.float32
    for node in matmuls:
        dq = by_output[node.input[1]]
        weight, scale, zero = (inits[t] for t in dq.input)
        axis = next(a.i for a in dq.attribute if a.name == "axis")
        assert weight.dtype == np.int8 and weight.ndim == 2 and axis == 1  # MatMul weight (K, N): N channels
        assert scale.shape == (weight.shape[1],) and not zero.any() and zero.dtype == np.int8
        assert scale.dtype == scale_type and (scale > 0).all()
    for node in graph.node:
        if node.op_type == "QuantizeLinear":
            assert inits[node.input[2]].dtype == np.int8 and inits[node.input[2]] == 0
            assert inits[node.input[1]].size == 1  # activations per tensor


def test_weight_quantization_by_hand():
    w = np.array([[1.0, -2.0, 0.0], [0.5, 4.0, 0.0]], dtype=np.float32)  # (K=2, N=3), channel 2 all zero
    q, scale = quantize_weight(w, axis=1)
    np.testing.assert_allclose(scale, [1 / 127, 4 / 127, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(q, [[127, -64, 0], [64, 127, 0]])  # 0.5/(1/127) = 63.5 -> 64; -2/(4/127) = -63.5


def test_float16_scales_round_up_never_to_zero_and_the_weights_use_them():
    scale = np.array([1 / 127, 1e-12, 3.3e-3], dtype=np.float32)
    half = representable_scale(scale, np.float16)
    assert (half >= scale).all() and (half > 0).all()
    np.testing.assert_array_equal(half, half.astype(np.float16).astype(np.float32))  # exactly representable
    w = np.array([[0.3, -0.02], [-0.41, 0.011]], dtype=np.float32)
    q, s = quantize_weight(w, axis=1, dtype=np.float16)
    assert s.dtype == np.float32 and np.array_equal(s, s.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(q, np.clip(np.rint(w / s), -127, 127))  # rounded against the stored scale


def test_calibrators_measure_the_tensor_they_name():
    _, fp32 = tiny_fp32()
    model = onnx.load(str(fp32))
    batches = [inputs(2, seed=3, size=64), inputs(3, seed=4, size=64)]
    most = activation_amax(model, ["images"], batches, "max")["images"]
    assert most == pytest.approx(max(b.abs().max().item() for b in batches))
    p = activation_amax(model, ["images"], batches, "percentile", percentile=99.0)["images"]
    expect = np.mean([np.percentile(b.abs().numpy(), 99.0) for b in batches])
    assert p == pytest.approx(expect, rel=1e-6) and p < most


def test_calibration_reads_a_lazy_iterable_once():
    _, fp32 = tiny_fp32()
    made = []

    def batches():
        for b in iter_seeded_batches(6, 2, SHAPE):
            made.append(b.shape[0])
            yield b

    model = onnx.load(str(fp32))
    amax = activation_amax(model, ["images"], batches(), "max")
    assert made == [2, 2, 2] and amax["images"] > 0


def test_skip_globs_map_to_modules():
    model, fp32 = tiny_fp32()
    sites = gemm_sites(_graph(fp32), {n for n, _ in model.named_modules()})
    chosen, left = select_sites(sites, ("*",), ("*.attn",))
    assert all(".attn" not in s.module for s in chosen) and chosen
    assert {s.kind for s in left} == {"linear", "attention"}  # qkv/proj and QK^T/AV all under `*.attn`


def _float32_tensors(path) -> set[str]:
    """Tensors of the file typed float32 by ONNX inference, less the graph's input and output and the inputs and
    outputs of LayerNorm/Softmax (computed in fp32 between casts) and their own scale/bias."""
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    typed = {v.name: v.type.tensor_type.elem_type for v in inferred.value_info}
    typed.update({i.name: i.data_type for i in inferred.initializer})
    allowed = {v.name for v in [*inferred.input, *inferred.output]}
    for node in inferred.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            allowed.update([*node.input, *node.output])
    return {name for name, kind in typed.items() if kind == F32} - allowed


def test_the_default_file_is_fp16_around_int8_gemms_and_as_accurate_as_the_fp32_one():
    model, _, mixed = tiny_qdq()
    _, _, full = tiny_qdq("fp32")
    assert _float32_tensors(mixed.path) == set()
    assert _float32_tensors(full.path)  # the fp32-high-precision file is float32 throughout
    placement = check_onnx(mixed.path)
    assert placement.precisions["LayerNormalization"] == {"float32": placement.float_ops["LayerNormalization"]}
    assert set(placement.precisions["Add"]) == {"float16"} and not placement.float32_ops()
    assert {g.precision for g in placement.gemms} == {"int8", "float16"}
    x = inputs(4, seed=9, size=64)
    with torch.inference_mode():
        ref = model(x)
        got = {r.high_precision: sqnr_db(ref, OrtModel(session(r.path, exact_qdq=True))(x)) for r in (mixed, full)}
    assert got["fp32"] > 25 and abs(got["fp16"] - got["fp32"]) < 1.0  # 34.2 vs 34.8 dB seen


def test_ort_runs_the_file_close_to_fp32_at_two_batch_sizes():
    model, _, result = tiny_qdq()
    onnx.checker.check_model(onnx.load(str(result.path)), full_check=True)
    ort = OrtModel(session(result.path, exact_qdq=True))
    for batch in (1, 3):  # dynamic batch
        x = inputs(batch, seed=9, size=64)
        with torch.inference_mode():
            assert sqnr_db(model(x), ort(x)) > 25  # simulated int8 of a random-weight model (34 dB seen)


def test_residual_option_quantizes_the_branch_input_of_each_residual_add():
    model, _, result = tiny_qdq(residual=True)
    graph = _graph(result.path)
    producer = {o: n for n in graph.node for o in n.output}
    adds = [n for n in graph.node if n.name in set(result.residual_adds)]
    blocks = [n for n, m in model.named_modules() if n.endswith(".attn") and hasattr(m, "qkv")]
    assert len(adds) == 2 * len(blocks)  # the attention and the MLP residual of every block, as ModelOpt places
    for add in adds:
        dq = [producer[t] for t in add.input if producer[t].op_type == "DequantizeLinear"]
        assert len(dq) == 1  # the branch comes through Q/DQ, the skip (the residual stream) stays float
        branch = producer[producer[dq[0].input[0]].input[0]]  # DQ <- Q <- the branch's last op
        skip = next(t for t in add.input if t != dq[0].output[0])
        assert branch.op_type in ("Add", "Reshape", "Transpose", "Slice", "Concat") and skip not in branch.output
    x = inputs(2, seed=9, size=64)
    with torch.inference_mode():
        assert sqnr_db(model(x), OrtModel(session(result.path, exact_qdq=True))(x)) > 25


def test_the_patch_embedding_convolution_is_quantizable():
    model, fp32 = tiny_fp32()
    modules = {name for name, _ in model.named_modules()}
    result = quantize_qdq(fp32, session_folder() / "tiny.conv.onnx", iter_seeded_batches(8, 4, SHAPE), "seeded",
                          skip=("head",), modules=modules)  # fmt: skip
    conv = next(g for g in check_onnx(result.path).gemms if g.op_type == "Conv")
    assert conv.precision == "int8" and conv.b.granularity == "per-channel" and conv.module == "patch_embed.proj"


def test_the_rename_map_names_an_fp32_tensor_for_every_tensor_the_export_added():
    _, fp32, result = tiny_qdq(residual=True)
    reference = onnx.load(str(fp32)).graph
    known = {o for n in reference.node for o in n.output} | {i.name for i in reference.input}
    known |= {i.name for i in reference.initializer}
    sources = tensor_sources(onnx.load(str(result.path)))
    added = {o for n in _graph(result.path).node for o in n.output} - known
    quantized_copies = {t for t in added if t.endswith(("_qdq_dq", "_fp16", "_fp32"))}
    assert quantized_copies and quantized_copies <= set(sources)
    assert set(sources.values()) <= known


def test_the_session_folder_is_removed_when_the_test_process_exits():
    """The exported files of a test session live in one folder that is gone once the process exits."""
    code = ("from tests.optimize.qdq_tiny import session_folder; p = session_folder(); "
            "(p / 'x.onnx').write_bytes(b'1'); print(p)")  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and folder.name.startswith("swinprof-qdq-test-") and not folder.exists()
