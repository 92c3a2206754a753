"""Method `trt-qdq-int8` (recipe `trt-int8-onnx`): the Q/DQ file the recipe runs passes the placement check, the
proof counter counts its quantized Linear layers, and the notes say its latency is not the device's."""

from __future__ import annotations

import torch
from torch import nn

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.methods import MethodJob, apply_method
from swinprof.optimize.onnx import OrtModel, session
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.proof import count_onnx
from swinprof.optimize.qdq_check import check_onnx
from swinprof.optimize.recipe import DEFAULT_SKIP
from tests.optimize.qdq_tiny import SHAPE, tiny_qdq
from tests.optimize.tiny import inputs


def test_the_runtime_runs_the_file_as_written():
    """ONNX Runtime's fused integer kernels saturate on x86 without VNNI; the artifact's fidelity is its own
    arithmetic, so the method asks the runtime for a session that does not fuse Q/DQ."""
    assert get_recipe("trt-int8-onnx").method.exact_qdq
    _, _, result = tiny_qdq()
    options = session(result.path, exact_qdq=True).get_session_options()
    assert options.get_session_config_entry("session.disable_quant_qdq") == "1"


def test_the_recipe_file_names_the_method():
    recipe = get_recipe("trt-int8-onnx")
    assert recipe.quantize.method == "trt-qdq-int8" and recipe.target.runtime == "onnxruntime"
    assert recipe.target.precision == "fp16"  # the mixed file `swinprof export onnx-int8` writes by default


def test_the_method_writes_a_checked_file_that_the_proof_counter_counts(tmp_path):
    model, fp32, _ = tiny_qdq()
    calibration = [torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    job = MethodJob(model, fp32, ["*"], DEFAULT_SKIP, calibration=calibration, workdir=tmp_path, name="q",
                    precision="fp16")  # the recipe's target precision: the mixed file
    done = apply_method("trt-qdq-int8", job)
    assert done.work == tmp_path / "q.onnx"
    placement = check_onnx(done.work)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert sorted(done.layers) == sorted(set(linears) - {"head"})  # the Linear layers, as other methods report
    attention = [g for g in placement.gemms if g.precision == "int8" and g.module not in linears]
    assert attention and all(g.op_type == "MatMul" for g in attention)  # QK^T and AV, int8 too
    assert count_onnx(done.work) == len(linears) - 1  # every Linear but the skipped head; attention MatMuls not counted
    assert {g.precision for g in placement.gemms} == {"int8", "float16"} and not placement.float32_ops()
    assert any("8 calibration images" in n for n in done.notes)
    x = inputs(2, seed=11, size=64)
    with torch.inference_mode():
        assert sqnr_db(model(x), OrtModel(session(done.work, exact_qdq=True))(x)) > 25
