"""The process peak of a recipe, measured in a fresh interpreter that prepares it and runs one forward."""

from __future__ import annotations

import torch

from swinprof.optimize.fresh import fresh_process_peak, load_model, save_model
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.recipe import to_dict
from tests.optimize.tiny import inputs, tiny_model


def test_saved_model_loads_back_identical(tmp_path):
    m = tiny_model("swinv2_t_w8")
    back = load_model(save_model(m, tmp_path / "m.pt"))
    assert back.config == m.config and back.attn_impl == m.attn_impl
    with torch.inference_mode():
        assert torch.equal(back(inputs(2)), m(inputs(2)))


def test_fresh_process_peak_of_a_recipe(tmp_path):
    m = tiny_model()
    path = save_model(m, tmp_path / "m.pt")
    recipe = get_recipe("int8-dynamic").replace("model", name="swin_t", img_size=64)
    peak = fresh_process_peak(to_dict(recipe), path, batch=2, calibration_file=None)
    weights = sum(p.numel() * p.element_size() for p in m.parameters())
    # A whole interpreter with torch imported: far above the tiny model's weights, far below a runaway.
    assert peak.bytes is not None and 50 * 2**20 < peak.bytes < 4 * 2**30 and peak.bytes > weights
    assert 0 < peak.prepare_s < peak.wall_s
