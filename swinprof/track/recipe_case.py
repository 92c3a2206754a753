"""Benchmark cases that run a quantize/compile recipe (`recipe = "int8-x86-cpu"` in a suite) and carry their
fidelity against fp32 beside their latency, so `regress` can flag an accuracy regression like a slowdown.

The case's model is built exactly as for an fp32 case (seeded weights, `[cases.config]` overrides); the recipe
is prepared on it with seeded random calibration inputs, and SQNR / top-1 agreement come from
`swinprof.evaluate.fidelity` on seeded inputs the calibration did not see.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from swinprof.measure.inputs import seeded_images

FIDELITY_SAMPLES = 8  # inputs scored against fp32 (seeded; batch of the case size)


def is_recipe_case(recipe: str) -> bool:
    """A preset or recipe file rather than the `fp32-eager`-style dtype-mode form (which wins: fp32-eager is a
    preset too, and stays the plain timed model it always was)."""
    from swinprof.optimize.presets import preset_paths
    from swinprof.track.suite import RECIPE_DTYPES, RECIPE_MODES

    dtype, _, mode = recipe.partition("-")
    if dtype in RECIPE_DTYPES and mode in RECIPE_MODES:
        return False
    return recipe in preset_paths() or recipe.endswith(".toml")


def case_model(case, device: torch.device, seed: int = 0, weights: str | None = None,
               dtype: torch.dtype = torch.float32) -> torch.nn.Module:  # fmt: skip
    """The model of a suite case, in eval mode on `device` in `dtype` (moved and cast in one step): the case's
    variant, resolution, attention and config overrides, with seeded random weights (`seed`) or the checkpoint
    `weights`."""
    from swinprof.models import create_model

    torch.manual_seed(seed)
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in case.config.items()}
    return create_model(case.model, img_size=case.res, attn_impl=case.attn, weights=weights,
                        **overrides).eval().to(device=device, dtype=dtype)  # fmt: skip


def recipe_case_forward(case, device: torch.device, seed: int = 0, weights: str | None = None):
    """`(prepared forward (B, 3, H, W) -> logits, the fp32 model it was prepared from)` of a recipe case: the
    case's model (`case_model`) prepared with seeded random calibration."""
    from swinprof.optimize.prepare import prepare
    from swinprof.optimize.presets import get_recipe

    model = case_model(case, device, seed, weights)
    recipe = get_recipe(case.recipe).replace("model", name=case.model, img_size=case.res)
    recipe = recipe.replace("target", device=device.type)
    cal = recipe.quantize.calibration
    calibration = []
    if recipe.method.calibrated:
        g = torch.Generator().manual_seed(seed + 1)
        shape = (cal.count, model.config.in_chans, case.res, case.res)
        calibration = list(torch.randn(*shape, generator=g).to(device).split(cal.batch_size))
    with tempfile.TemporaryDirectory(prefix="swinprof-bench-") as work:
        prepared = prepare(recipe, model, calibration, Path(work))
    return prepared.fn, model


def build_recipe_case(case, device: torch.device, seed: int = 0,
                      weights: str | None = None) -> tuple[Callable[[], object], dict]:  # fmt: skip
    """The prepared recipe's forward closure on the case's fixed batch, and its fidelity
    `{"sqnr_db", "top1_agreement", "samples"}` against the fp32 model."""
    from swinprof.evaluate.fidelity import batched_logits, compare_logits

    fn, model = recipe_case_forward(case, device, seed, weights)
    x = seeded_images(case.batch, case.res, seed, device=device)
    probe = seeded_images(FIDELITY_SAMPLES, case.res, seed + 2, device=device)
    with torch.inference_mode():
        ref = batched_logits(model, probe, case.batch)
        f = compare_logits(ref, batched_logits(fn, probe, case.batch))
    fidelity = {"sqnr_db": f.sqnr_db, "top1_agreement": f.top1_agreement, "samples": f.samples}
    return (lambda: fn(x)), fidelity
