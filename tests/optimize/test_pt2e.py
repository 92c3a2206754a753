"""PT2E static int8 (X86InductorQuantizer): skip handling, calibration, fidelity of the converted graph."""

from __future__ import annotations

import torch

from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.pt2e import quantize_pt2e_x86, resolve_reduce_range, x86_quantizer
from swinprof.optimize.recipe import DEFAULT_SKIP
from tests.optimize.tiny import inputs, tiny_model


def _quantized_linear_inputs(gm: torch.fx.GraphModule) -> int:
    """Linear nodes whose input comes from a dequantize op (i.e. were quantized)."""
    count = 0
    for node in gm.graph.nodes:
        if node.target == torch.ops.aten.linear.default:
            src = node.args[0]
            if isinstance(src, torch.fx.Node) and "dequantize" in str(src.target):
                count += 1
    return count


def test_reduce_range_settings():
    assert resolve_reduce_range("true") is True
    assert resolve_reduce_range("false") is False
    assert isinstance(resolve_reduce_range("auto"), bool)


def test_skip_globs_reach_the_quantizer():
    m = tiny_model()
    _, names = x86_quantizer(m, ["*"], DEFAULT_SKIP, reduce_range=True)
    _, names_all = x86_quantizer(m, ["*"], [], reduce_range=True)
    assert set(names_all) - set(names) == {"patch_embed.proj", "head"}


def test_pt2e_int8_eager_fidelity_and_skips():
    m = tiny_model()
    calib = [inputs(4, seed=s) for s in (10, 11)]
    gm, names = quantize_pt2e_x86(m, calib, ["*"], DEFAULT_SKIP, reduce_range=True)
    linears = [n for n in names if isinstance(m.get_submodule(n), torch.nn.Linear)]
    assert _quantized_linear_inputs(gm) == len(linears)  # the head's linear stays fp32
    x = inputs(3, seed=5)  # a batch size not seen in calibration: the export has a dynamic batch
    with torch.no_grad():
        assert sqnr_db(m(x), gm(x)) > 20


def test_export_does_not_poison_the_eager_mask_cache():
    from torch._subclasses.fake_tensor import FakeTensor

    from swinprof.models.windows import _shift_mask_cached
    from swinprof.optimize.pt2e import export_model

    m = tiny_model()
    _shift_mask_cached.cache_clear()  # the state of a fresh process: no mask computed yet
    export_model(m, inputs(2))
    out = m(inputs(2))
    assert not isinstance(out, FakeTensor) and torch.isfinite(out).all()
