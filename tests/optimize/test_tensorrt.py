"""The TensorRT runtime on a CUDA GPU: its engines hold the fp32 model's logits (skipped, with the reason, on CPU)."""

from __future__ import annotations

import pytest
import torch

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.prepare import prepare
from swinprof.optimize.presets import get_recipe
from tests.optimize.tiny import inputs, tiny_model

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
