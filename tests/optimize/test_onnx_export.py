"""ONNX export parity with ONNX Runtime (fp32, dynamic batch) and ONNX Runtime int8 quantization."""

from __future__ import annotations

import pytest
import torch

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.methods import MethodJob, apply_method
from swinprof.optimize.onnx import OrtModel, check_parity, export_onnx, session
from swinprof.optimize.recipe import DEFAULT_SKIP
from tests.optimize.tiny import inputs, tiny_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    m = tiny_model()
    path = export_onnx(m, tmp_path_factory.mktemp("onnx") / "tiny.onnx", 64, opset=18, dynamic_batch=True)
    return m, path


def test_fp32_parity_with_dynamic_batch(exported):
    m, path = exported
    errors = check_parity(m, path, batch_sizes=(1, 3))  # two batch sizes through one exported file
    assert set(errors) == {1, 3}
    assert max(errors.values()) < 1e-4


@pytest.mark.parametrize("method", ["ort-int8-dynamic", "ort-int8-static"])
def test_ort_int8(exported, tmp_path, method):
    m, path = exported
    calib = [inputs(4, seed=s) for s in (20, 21)]
    job = MethodJob(m, path, ["*"], DEFAULT_SKIP, calibration=calib, workdir=tmp_path, name="q")
    done = apply_method(method, job)
    qpath, nodes = done.work, done.layers
    assert qpath == tmp_path / "q.onnx"
    assert nodes and qpath.stat().st_size < path.stat().st_size
    x = inputs(2, seed=7)
    with torch.inference_mode():
        assert sqnr_db(m(x), OrtModel(session(qpath))(x)) > 20


def _with_a_stale_shape(path, dst):
    """A copy of the exported file whose first MatMul output is annotated with a wrong shape, as torch 2.11's
    exporter wrote for swin's classifier head (ONNX Runtime runs it; strict shape inference rejects it)."""
    import onnx

    model = onnx.load(str(path))
    matmul = next(n for n in model.graph.node if n.op_type in ("MatMul", "Gemm"))
    stale = onnx.helper.make_tensor_value_info(matmul.output[0], onnx.TensorProto.FLOAT, [7, 7, 7])
    del model.graph.value_info[:]
    model.graph.value_info.append(stale)
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize("method", ["ort-int8-dynamic", "ort-int8-static"])
def test_ort_int8_ignores_a_stale_shape_annotation_of_the_exporter(exported, tmp_path, method):
    import onnx

    m, path = exported
    stale = _with_a_stale_shape(path, tmp_path / "stale.onnx")
    with pytest.raises(Exception, match="differ"):  # what ORT's quantizer met on the GPU machine
        onnx.shape_inference.infer_shapes_path(str(stale), str(tmp_path / "inferred.onnx"), strict_mode=True)
    calib = [inputs(4, seed=s) for s in (20, 21)]
    job = MethodJob(m, stale, ["*"], DEFAULT_SKIP, calibration=calib, workdir=tmp_path, name="q")
    qpath = apply_method(method, job).work
    x = inputs(2, seed=7)
    with torch.inference_mode():
        assert sqnr_db(m(x), OrtModel(session(qpath))(x)) > 20
