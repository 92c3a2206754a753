"""The prepare step of a recipe run: every recipe applied to the one fp32 model, with its calibration batches.

Usable on its own (a batch-ladder study prepares recipes the same way): `prepare_recipes` returns one
`PreparedRecipe` per recipe that is not the fp32 eager baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from swinprof.evaluate.imagefolder import ImageSet
from swinprof.optimize.prepare import Prepared, prepare
from swinprof.optimize.recipe import Recipe, parse_recipe, to_dict
from swinprof.ranks import SINGLE, Ranks
from swinprof.studies.calibration import calibration_batches

BASELINE = "fp32-eager"


@dataclass
class PreparedRecipe:
    """One recipe as run (a budgeted recipe carries the skip list its search chose), its prepared model, the
    calibration batches `(b, 3, H, W)` it used, and its accuracy-budget search (None without a budget)."""

    recipe: Recipe
    prepared: Prepared
    calibration: list[torch.Tensor]
    budget: object | None = None  # studies.sensitivity.BudgetSearch

    @property
    def name(self) -> str:
        return self.recipe.name


def is_baseline(r: Recipe) -> bool:
    """A recipe that is plain fp32 eager PyTorch: it *is* the baseline and gets no row of its own."""
    return (r.quantize.method, r.compile.backend, r.target.runtime, r.target.precision) == (
        "none", "none", "pytorch", "fp32",
    )  # fmt: skip


def baseline_recipe(lead: Recipe) -> Recipe:
    """The fp32 eager recipe the baseline row stands for (same model and device as the run)."""
    model = {k: v for k, v in to_dict(lead.model).items() if v is not None}
    return parse_recipe({"meta": {"name": BASELINE}, "model": model, "target": {"device": lead.target.device}})


def prepare_recipes(
    recipes: Sequence[Recipe],
    model: torch.nn.Module,
    workdir: Path,
    images: ImageSet | None = None,
    transform=None,
    seed: int = 0,
    say: Callable[[str], None] = lambda _m: None,
    calibration_images: ImageSet | None = None,
    ranks: Ranks = SINGLE,
) -> list[PreparedRecipe]:
    """Every non-baseline recipe prepared on the fp32 eval-mode `model` (calibrated on `calibration_images`, or
    else `images`, through `transform` when the recipe asks and a folder is given, else on seeded random inputs);
    a recipe with an accuracy budget is searched first (scored on `images`) and prepared with the skip list the
    search chose (its per-layer ranking split over `ranks` under torchrun)."""
    from swinprof.studies.sensitivity import apply_budget

    device = next(model.parameters()).device
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    out = []
    for r in recipes:
        if is_baseline(r):
            continue
        calibration = calibration_batches(r, calibration_images or images, transform, shape, device, seed)
        budget = None
        if r.quantize.budget.metric != "none":
            r, budget = apply_budget(r, model, calibration, images, transform, seed, say, ranks)
        say(f"preparing {r.name}: {r.method.summary}")
        out.append(PreparedRecipe(r, prepare(r, model, calibration, workdir), calibration, budget))
    return out
