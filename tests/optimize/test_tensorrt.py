"""The torch-tensorrt recipes on the current API (strongly typed, no enabled_precisions, int8 from Q/DQ), and their
one-line refusal on a machine without TensorRT or a GPU."""

from __future__ import annotations

import re

import pytest
import torch

from swinprof.cli.main import main
from swinprof.errors import RecipeError
from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.prepare import prepare
from swinprof.optimize.presets import get_recipe, preset_paths
from swinprof.optimize.tensorrt import typing_settings
from tests.optimize.tiny import inputs, tiny_model


def _runtime(name: str) -> str | None:
    try:
        return get_recipe(name).target.runtime
    except RecipeError:  # benchmark suites and other non-recipe files of the folder
        return None


TENSORRT_PRESETS = [n for n in preset_paths() if _runtime(n) == "tensorrt"]


def test_the_presets_on_tensorrt_are_found():
    assert {"tensorrt-fp16", "edge-orin-int8"} <= set(TENSORRT_PRESETS)


def test_strongly_typed_settings():
    assert typing_settings("fp32") == {"use_explicit_typing": True}
    fp16 = typing_settings("fp16")
    assert fp16["use_explicit_typing"] and fp16["enable_autocast"] and fp16["low_precision_type"] is torch.float16
    assert "enabled_precisions" not in fp16  # deprecated by torch-tensorrt; TensorRT 11 has no precision flags

    def kept(name: str) -> bool:
        return any(re.search(p, name) for p in fp16["nodes_to_exclude"])

    assert kept("layer_norm") and kept("layer_norm_12") and kept("softmax_3")
    assert not kept("linear_2") and not kept("gelu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("name", TENSORRT_PRESETS)
def test_on_cpu_a_tensorrt_recipe_is_one_line_naming_what_it_needs(name, tmp_path, capsys):
    assert main(["run", name, "--model-config", "depths=1,1,1,1", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("torch_tensorrt" in err[0] or "CUDA" in err[0])
    assert not (tmp_path / "out").exists()


# fp16 engines follow fp32 to rounding; the int8 engine (ModelOpt PTQ, random weights) loosely.
BOUND_DB = {"tensorrt-fp16": 40.0, "edge-orin-int8": 15.0}


@pytest.mark.cuda
@pytest.mark.parametrize("name", list(BOUND_DB))
def test_engine_matches_fp32(name, tmp_path):
    pytest.importorskip("torch_tensorrt", reason="needs the [tensorrt] extra")
    model = tiny_model().cuda().eval()
    recipe = get_recipe(name).replace("model", name="swin_t", img_size=model.config.img_size)
    recipe = recipe.replace("benchmark", batch_sizes=[2])
    calibration = [inputs(4, seed=s).cuda() for s in (10, 11)] if recipe.method.calibrated else []
    prepared = prepare(recipe, model, calibration, tmp_path)
    x = inputs(2, seed=7).cuda()
    with torch.inference_mode():
        assert sqnr_db(model(x).float().cpu(), prepared.fn(x).float().cpu()) > BOUND_DB[name]
