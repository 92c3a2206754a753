"""The trainer's optimizer groups follow microsoft/Swin-Transformer's training: weight decay only on the weights
of Linear and Conv layers that carry features, never on norms, biases, position-bias tables, or (v2) the
continuous position-bias MLP and the attention temperature `logit_scale`."""

from __future__ import annotations

import pytest
from torch import nn

from swinprof.models import create_model
from swinprof.studies.train import decay_groups
from swinprof.studies.trained import DIGITS_VARIANTS


def _names(model: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("variant", DIGITS_VARIANTS)
def test_decay_reaches_feature_weights_only(variant):
    model = create_model(variant)
    decayed, kept = decay_groups(model, 0.05)
    assert (decayed["weight_decay"], kept["weight_decay"]) == (0.05, 0.0)
    names = _names(model, decayed)
    feature_weights = {f"{m}.weight" for m, mod in model.named_modules()
                       if isinstance(mod, (nn.Linear, nn.Conv2d)) and "cpb_mlp" not in m}  # fmt: skip
    assert names == feature_weights
    assert names | _names(model, kept) == {n for n, _ in model.named_parameters()}


def test_swin_v2_keeps_its_position_mlp_and_temperature_out_of_decay():
    """They used to be decayed: `logit_scale` is 3-D and the MLP's weights 2-D, so a rule on shape alone missed them."""
    model = create_model("swinv2_digits")
    kept = _names(model, decay_groups(model, 0.05)[1])
    v2_only = [n for n, _ in model.named_parameters() if "cpb_mlp" in n or "logit_scale" in n]
    assert len(v2_only) >= 4 * 2 and set(v2_only) <= kept  # per block: logit_scale, 2 MLP weights, 1 MLP bias
