"""The Swin-aware presets: what they keep in fp32, and that the budget preset validates."""

from __future__ import annotations

from torch import nn

from swinprof.optimize.presets import get_recipe
from swinprof.optimize.selection import selected_modules
from tests.optimize.tiny import tiny_model


def test_swin_safe_keeps_fc2_patch_merging_embed_and_head_in_fp32():
    q = get_recipe("int8-x86-cpu-swin-safe").quantize
    chosen = selected_modules(tiny_model(), q.include, q.skip, (nn.Linear, nn.Conv2d))
    assert chosen and all(n.endswith(("attn.qkv", "attn.proj", "mlp.fc1")) for n in chosen)
    v2 = selected_modules(tiny_model("swinv2_t_w8"), q.include, q.skip, (nn.Linear, nn.Conv2d))
    assert not any("cpb_mlp" in n for n in v2)


def test_budget_preset_carries_its_budget():
    b = get_recipe("int8-x86-cpu-budget").quantize.budget
    assert (b.metric, b.min, b.max_drop) == ("sqnr", 30.0, None)
