from __future__ import annotations

import pytest
import torch

from swinprof.errors import InvalidResolutionError, UnknownAttentionError
from swinprof.models import create_model
from tests.conftest import tiny_model


@pytest.mark.parametrize("hw", [(128, 128), (64, 64), (96, 160), (224, 96)])
def test_any_multiple_of_32_runs(tiny, hw):
    out = tiny(torch.randn(2, 3, *hw))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("img_size", [64, 96, 160, 224])
def test_models_built_at_other_resolutions_clamp_and_pad(img_size):
    model = tiny_model("swinv2_t_w8", img_size=img_size, window_size=7)
    assert model(torch.randn(1, 3, img_size, img_size)).shape == (1, 10)
    last = list(model.layers[-1].blocks)
    side = img_size // 32
    if side <= 7:  # window clamped to the map, no shift
        assert all(b.window == (side, side) and b.shift == (0, 0) for b in last)


def test_batch_elements_are_independent(tiny):
    x = torch.randn(3, 3, 128, 128)
    with torch.no_grad():
        full = tiny(x)
        single = tiny(x[1:2])
    assert torch.allclose(full[1:2], single, atol=1e-5)


def test_shift_pattern_alternates():
    model = tiny_model()
    shifts = [b.shift for b in model.layers[0].blocks]
    assert shifts == [(0, 0), (2, 2)]


@pytest.mark.parametrize("shape", [(1, 3, 100, 128), (1, 3, 128, 120), (1, 1, 128, 128), (3, 128, 128)])
def test_bad_input_shapes_raise(tiny, shape):
    with pytest.raises(InvalidResolutionError):
        tiny(torch.randn(*shape))


def test_unknown_attention_impl_lists_choices():
    with pytest.raises(UnknownAttentionError, match="reference"):
        create_model("swin_t", attn_impl="nope", device="meta")
    model = tiny_model()
    with pytest.raises(UnknownAttentionError):
        model.set_attn_impl("nope")


def test_v2_pretrained_window_changes_the_position_bias():
    a = tiny_model("swinv2_t_w8")
    b = tiny_model("swinv2_t_w8", pretrained_window_sizes=(2, 2, 2, 2))
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


def test_v2_logit_scale_is_clamped():
    model = tiny_model("swinv2_t_w8")
    attn = model.layers[0].blocks[0].attn
    with torch.no_grad():
        attn.logit_scale.fill_(10.0)
    assert torch.allclose(attn.logit_scale_exp(), torch.tensor(100.0))


def test_gradients_flow_to_every_parameter(tiny):
    tiny.train()
    tiny(torch.randn(2, 3, 128, 128)).sum().backward()
    missing = [n for n, p in tiny.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
