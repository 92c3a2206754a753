"""Our models give the same logits as an implementation we did not write (transformers), same weights."""

from __future__ import annotations

import pytest
import torch

from swinprof.models import create_model
from swinprof.models.hf_reference import hf_model_for, load_into_hf
from tests.conftest import tiny_model

pytest.importorskip("transformers")


def _max_logit_diff(model, batch: int, hw: tuple[int, int]) -> float:
    reference = hf_model_for(model.config)
    load_into_hf(reference, model.state_dict(), model.config.version)
    x = torch.randn(batch, 3, *hw)
    with torch.inference_mode():
        return (model(x) - reference(pixel_values=x).logits).abs().max().item()


@pytest.mark.parametrize("name", ["swin_t", "swinv2_t_w8"])
@pytest.mark.parametrize(
    "img_size,window",
    [(128, 4), (192, 5)],  # 192/w5 pads every stage (48 -> 50, 24 -> 25, 12 -> 15, 6 -> 10)
    ids=["clamped-last-stage", "padded"],
)
def test_tiny_models_match_transformers(name, img_size, window):
    model = tiny_model(name, img_size=img_size, window_size=window)
    assert _max_logit_diff(model, 2, (img_size, img_size)) < 1e-4


@pytest.mark.fullsize
@pytest.mark.parametrize("name", ["swin_t", "swinv2_t_w8"])
def test_full_size_variants_match_transformers(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    side = model.config.img_size
    assert _max_logit_diff(model, 1, (side, side)) < 1e-4
