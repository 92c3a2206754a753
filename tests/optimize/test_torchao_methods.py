"""torchao quantize_ methods on a tiny model, through the method registry: layer selection by glob, fidelity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swinprof.errors import RecipeError
from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.methods import MethodJob, apply_method
from swinprof.optimize.recipe import DEFAULT_SKIP
from swinprof.optimize.selection import selected_modules
from tests.optimize.tiny import inputs, tiny_model


def test_default_skip_keeps_patch_embed_head_and_v2_cpb_mlp():
    v1 = tiny_model("swin_t")
    names = selected_modules(v1, ["*"], DEFAULT_SKIP, (nn.Linear, nn.Conv2d))
    assert "layers.0.blocks.0.attn.qkv" in names and "layers.0.downsample.reduction" in names
    assert not any(n.startswith(("patch_embed", "head")) for n in names)
    v2 = tiny_model("swinv2_t_w8")
    names = selected_modules(v2, ["*"], DEFAULT_SKIP)
    assert not any("cpb_mlp" in n for n in names)
    assert "layers.0.blocks.0.attn.proj" in names


def test_include_globs_narrow_the_selection():
    m = tiny_model()
    names = selected_modules(m, ["*.mlp"], DEFAULT_SKIP)
    assert names and all(".mlp.fc" in n for n in names)


@pytest.mark.parametrize(("method", "bound_db"), [("int8-weight-only", 30.0), ("int8-dynamic", 25.0)])
def test_torchao_int8_fidelity(method, bound_db):
    m = tiny_model()
    x = inputs()
    done = apply_method(method, MethodJob(m, m, ["*"], DEFAULT_SKIP))
    q, names = done.work, done.layers
    with torch.inference_mode():
        ref, out = m(x), q(x)
    assert sqnr_db(ref, out) > bound_db
    # quantized layers hold a torchao tensor subclass; skipped ones and the fp32 original are untouched
    assert type(q.get_submodule(names[0]).weight) is not nn.Parameter
    assert type(q.head.weight) is nn.Parameter
    assert type(m.get_submodule(names[0]).weight) is nn.Parameter


def test_selection_that_matches_nothing_is_an_error():
    with pytest.raises(RecipeError, match="select no Linear layer"):
        m = tiny_model()
        apply_method("int8-dynamic", MethodJob(m, m, ["nothing*"], []))


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 9), reason="fp8 GPU")
def test_fp8_dynamic_on_gpu():
    m = tiny_model().cuda().to(torch.bfloat16)
    x = inputs().cuda().to(torch.bfloat16)
    q = apply_method("fp8-dynamic", MethodJob(m, m, ["*"], DEFAULT_SKIP)).work
    with torch.inference_mode():
        assert sqnr_db(m(x).float(), q(x).float()) > 20
