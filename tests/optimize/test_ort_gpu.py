"""The `onnxruntime-gpu` runtime (recipe `trt-int8-ort-gpu`): it takes the onnxruntime runtime's methods, stops on a
machine without ONNX Runtime's TensorRT/CUDA provider with one line naming what is missing, and, where one is
installed, runs the Q/DQ file on the GPU close to fp32."""

from __future__ import annotations

import pytest
import torch

from swinprof.cli.main import main
from swinprof.errors import DeviceUnavailableError
from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.methods import get_runtime
from swinprof.optimize.ort_gpu import GPU_PROVIDERS, gpu_providers, missing_provider, provider_list
from swinprof.optimize.prepare import prepare
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.recipe import check_requirements
from tests.optimize.qdq_tiny import SHAPE, SMALL, tiny_qdq
from tests.optimize.tiny import inputs, tiny_model

NO_GPU_PROVIDER = not gpu_providers()


def test_the_recipe_runs_the_onnxruntime_methods_on_the_gpu_runtime():
    recipe = get_recipe("trt-int8-ort-gpu")
    assert recipe.target.runtime == "onnxruntime-gpu" and recipe.quantize.method == "trt-qdq-int8"
    assert get_runtime("onnxruntime-gpu").spec.methods_of == recipe.method.runtime == "onnxruntime"


@pytest.mark.skipif(not NO_GPU_PROVIDER, reason="this machine has a GPU provider")
def test_without_a_gpu_provider_it_says_what_is_missing(tmp_path, capsys):
    assert "onnxruntime-gpu" in missing_provider()
    with pytest.raises(DeviceUnavailableError, match="neither the TensorRT nor the CUDA execution provider"):
        check_requirements(get_recipe("trt-int8-ort-gpu"))
    assert main(["run", "trt-int8-ort-gpu", "--model", "swin_digits", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install onnxruntime-gpu" in err[0] and "building" not in err[0]
    assert not (tmp_path / "out").exists()


def test_providers_prefer_tensorrt_with_int8_for_a_qdq_file(tmp_path, monkeypatch):
    import onnxruntime

    _, _, result = tiny_qdq()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [*GPU_PROVIDERS, "CPUExecutionProvider"])
    providers = provider_list(result.path, "fp16", tmp_path / "cache")
    (trt, options), cuda, cpu = providers
    assert (trt, cuda, cpu) == (*GPU_PROVIDERS, "CPUExecutionProvider")
    assert options["trt_int8_enable"] and options["trt_fp16_enable"] and (tmp_path / "cache").is_dir()


@pytest.mark.skipif(NO_GPU_PROVIDER or not torch.cuda.is_available(), reason="needs onnxruntime-gpu and a GPU")
def test_engine_matches_fp32(tmp_path):
    model = tiny_model(**SMALL)
    recipe = get_recipe("trt-int8-ort-gpu").replace("model", name="swin_t", img_size=SHAPE[-1])
    calibration = [inputs(8, seed=s, size=SHAPE[-1]) for s in (1, 2)]
    prepared = prepare(recipe, model, calibration, tmp_path)
    x = inputs(4, seed=9, size=SHAPE[-1])
    with torch.inference_mode():
        assert sqnr_db(model(x), prepared.fn(x)) > 25
