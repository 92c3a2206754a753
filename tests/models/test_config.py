"""The variant registry is held to DESIGN.md's reference numbers: params to 0.01M, aten MACs to 0.5%."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from swinprof.errors import InvalidResolutionError, UnknownVariantError
from swinprof.models import VARIANTS, create_model, get_variant
from swinprof.models.config import validate_resolution


def _count(name: str, img_size: int | None = None) -> tuple[float, float]:
    model = create_model(name, img_size=img_size, device="meta")
    params = sum(p.numel() for p in model.parameters()) / 1e6
    side = img_size or model.config.img_size
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, side, side, device="meta"))
    return params, counter.get_total_flops() / 2 / 1e9


@pytest.mark.fullsize
@pytest.mark.parametrize("name", list(VARIANTS))
def test_params_and_macs_match_design_table(name):
    variant = VARIANTS[name]
    params, gmacs = _count(name)
    assert params == pytest.approx(variant.params_m, abs=0.01)
    assert gmacs == pytest.approx(variant.gmacs, rel=0.005)


def test_design_table_rows_are_all_registered():
    expected = {
        "swin_t": (224, 7, 96, (2, 2, 6, 2)),
        "swin_s": (224, 7, 96, (2, 2, 18, 2)),
        "swin_b": (224, 7, 128, (2, 2, 18, 2)),
        "swin_b_384": (384, 12, 128, (2, 2, 18, 2)),
        "swin_l": (224, 7, 192, (2, 2, 18, 2)),
        "swin_l_384": (384, 12, 192, (2, 2, 18, 2)),
        "swinv2_t_w8": (256, 8, 96, (2, 2, 6, 2)),
        "swinv2_s_w8": (256, 8, 96, (2, 2, 18, 2)),
        "swinv2_b_w8": (256, 8, 128, (2, 2, 18, 2)),
        "swinv2_t_w16": (256, 16, 96, (2, 2, 6, 2)),
        "swinv2_s_w16": (256, 16, 96, (2, 2, 18, 2)),
        "swinv2_b_w16": (256, 16, 128, (2, 2, 18, 2)),
        "swin_digits": (32, 4, 32, (2, 2)),  # trained by swinprof (docs/trained-network.md), not in the papers
        "swinv2_digits": (32, 4, 32, (2, 2)),
    }
    assert set(VARIANTS) == set(expected)
    for name, (res, window, embed, depths) in expected.items():
        c = VARIANTS[name].config
        assert (c.img_size, c.window_size, c.embed_dim, c.depths) == (res, window, embed, depths)
        assert c.version == (2 if name.startswith("swinv2") else 1)


@pytest.mark.fullsize
def test_other_resolution_counts_scale_with_tokens():
    # swin_t at 256 pads stage maps (64 -> 70 ...) to window multiples: more MACs than 224, params identical.
    params_224, macs_224 = _count("swin_t")
    params_256, macs_256 = _count("swin_t", 256)
    assert params_256 == pytest.approx(params_224, abs=1e-6)
    assert macs_256 > macs_224 * (256 / 224) ** 2 * 0.99


def test_official_names_are_aliases():
    assert get_variant("swin_small_patch4_window7_224").name == "swin_s"
    assert get_variant("swinv2_base_patch4_window16_256").name == "swinv2_b_w16"


def test_unknown_variant_lists_choices():
    with pytest.raises(UnknownVariantError, match="choose one of: swin_t, swin_s"):
        get_variant("swin_xxl")


@pytest.mark.parametrize("bad", [0, 100, 225, 16, "224"])
def test_bad_resolution_names_valid_choices(bad):
    with pytest.raises(InvalidResolutionError, match="multiple of 32"):
        validate_resolution(bad)
    with pytest.raises(InvalidResolutionError):
        create_model("swin_t", img_size=bad, device="meta")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("embed_dim=32", ("embed_dim", 32)),
        ("depths=2,1,1,1", ("depths", (2, 1, 1, 1))),
        (" mlp_ratio = 2.5 ", ("mlp_ratio", 2.5)),
        ("qkv_bias=False", ("qkv_bias", False)),
    ],
)
def test_model_config_override_is_typed_by_its_field(text, expected):
    from swinprof.models.config import parse_override

    assert parse_override(text) == expected


def test_model_config_overrides_build_that_model():
    from swinprof.models.config import parse_override

    overrides = dict(parse_override(t) for t in ("embed_dim=32", "depths=2,1,1,1", "num_heads=1,2,4,8"))
    model = create_model("swin_t", img_size=32, **overrides)
    assert [len(stage.blocks) for stage in model.layers] == [2, 1, 1, 1]
    assert model.config.num_features == 256
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
