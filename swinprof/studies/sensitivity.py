"""Which layers hurt when quantized: per-layer (or per-group) sensitivity, and the accuracy-budget search.

Both work on a switchboard (`swinprof.optimize.switch`): the recipe's quantized model prepared once, each
layer switchable between its quantized form and fp32. A group (one layer, a block, a stage, a layer type) is
scored by the fidelity of the model's logits against fp32 on a probe set, with the metrics of
`swinprof.evaluate.fidelity` (SQNR, top-1 agreement) or acc@1 on labeled images:

- mode `only`: only that group quantized; the lowest score is the most sensitive group.
- mode `all-but`: everything quantized except that group; the largest gain over the fully quantized model is
  the most sensitive group.

The budget search (`search_budget`) ranks layers with mode `only`, then quantizes the longest prefix of that
ranking (least sensitive first) that meets the budget on the search inputs (binary search: about log2(N)
evaluations), then checks it on held-out inputs that neither calibration nor the search saw, shrinking it
until it holds there too.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from swinprof.errors import RecipeError
from swinprof.evaluate.fidelity import compare_logits
from swinprof.optimize.switch import Switchboard
from swinprof.ranks import SINGLE, Ranks
from swinprof.studies.sensitivity_terms import COLUMN, GROUPS, METRICS, MODES

_BLOCK = re.compile(r"^(layers\.\d+\.(?:blocks\.\d+|downsample))\.")
_STAGE = re.compile(r"^(layers\.\d+)\.")
_IN_STAGE = re.compile(r"^layers\.\d+\.(?:blocks\.\d+\.)?")


def group_of(layer: str, by: str) -> str:
    """The group a layer belongs to: `layers.2.blocks.3.mlp.fc2` -> block `layers.2.blocks.3`, stage
    `layers.2`, type `mlp.fc2`; layers outside the stages (`patch_embed.proj`, `head`) are their own group."""
    if by == "layer":
        return layer
    block = _BLOCK.match(layer)
    if by == "block":
        return block.group(1) if block else layer
    if by == "stage":
        stage = _STAGE.match(layer)
        return stage.group(1) if stage else layer
    if by == "type":
        return _IN_STAGE.sub("", layer)
    raise RecipeError(f"unknown group {by!r}; choose one of: {', '.join(GROUPS)}")


@dataclass
class Probe:
    """Inputs `(N, 3, H, W)`, their fp32 logits `(N, classes)` and labels `(N,)` (None unless labeled)."""

    x: torch.Tensor
    reference: torch.Tensor
    labels: torch.Tensor | None = None
    source: str = ""

    @classmethod
    def of(cls, model: torch.nn.Module, x: torch.Tensor, labels=None, source: str = "") -> Probe:
        with torch.inference_mode():
            return cls(x, model(x).float(), labels, source)


def score(board: Switchboard, enabled: Sequence[str], probe: Probe) -> dict[str, float]:
    """Fidelity (and acc@1 % with labels) of the board with `enabled` layers quantized, on the probe."""
    board.set(enabled)
    logits = board(probe.x).float()
    f = compare_logits(probe.reference, logits)
    out = {"sqnr_db": f.sqnr_db, "top1_agree": f.top1_agreement}
    if probe.labels is not None:
        out["acc1"] = 100 * (logits.argmax(1) == probe.labels).float().mean().item()
    return out


def reference_score(probe: Probe) -> dict[str, float]:
    """What fp32 itself scores on the probe (SQNR infinite, agreement 1, its own acc@1)."""
    out = {"sqnr_db": math.inf, "top1_agree": 1.0}
    if probe.labels is not None:
        out["acc1"] = 100 * (probe.reference.argmax(1) == probe.labels).float().mean().item()
    return out


@dataclass
class Sensitivity:
    """A ranking: one row per group, most sensitive first; `quantized` / `fp32` score the endpoints."""

    frame: pd.DataFrame
    metric: str
    group: str
    mode: str
    layers: list[str]
    quantized: dict[str, float]
    fp32: dict[str, float]
    seconds: float


def _check_metric(metric: str, probe: Probe) -> str:
    if metric not in METRICS:
        raise RecipeError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if metric == "accuracy" and probe.labels is None:
        raise RecipeError("metric 'accuracy' needs labeled images: pass --data FOLDER in ImageFolder layout")
    return COLUMN[metric]


def rank(
    board: Switchboard,
    probe: Probe,
    metric: str = "sqnr",
    group: str = "layer",
    mode: str = "only",
    on_progress: Callable[[int, int, str], None] | None = None,
    ranks: Ranks = SINGLE,
) -> Sensitivity:
    """Score every group of the board's layers in `mode` and sort them, most sensitive first. Under torchrun the
    groups are split over `ranks` (`Ranks.shard`) and every rank gets the whole ranking back, by group index."""
    column = _check_metric(metric, probe)
    if mode not in MODES:
        raise RecipeError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    start = time.perf_counter()
    groups: dict[str, list[str]] = {}
    for layer in board.layers:
        groups.setdefault(group_of(layer, group), []).append(layer)
    board.set(())
    if hasattr(board, "cache"):
        board.cache(probe.x)  # mode `only` then re-runs only each layer's tail
    everything = score(board, board.layers, probe)
    items = list(groups.items())
    mine = {}
    for i in ranks.shard(len(items)):
        name, members = items[i]
        if on_progress:
            on_progress(i + 1, len(groups), name)
        enabled = members if mode == "only" else [n for n in board.layers if n not in set(members)]
        mine[i] = {"group": name, "layers": len(members), **score(board, enabled, probe)}
    rows = ranks.gather(mine, everyone=True)
    frame = pd.DataFrame([rows[i] for i in range(len(items))])
    if mode == "only":
        frame = frame.sort_values(column, ascending=True, kind="stable")
    else:
        frame["gain"] = frame[column] - everything[column]
        frame = frame.sort_values("gain", ascending=False, kind="stable")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    board.set(board.layers)
    return Sensitivity(frame.reset_index(drop=True), metric, group, mode, list(board.layers), everything,
                       reference_score(probe), time.perf_counter() - start)  # fmt: skip


# ---------------------------------------------------------------------------------------------- budget search


def meets(value: dict[str, float], budget, fp32: dict[str, float]) -> bool:
    """Whether a score meets a `[quantize.budget]` (min on the metric, or max drop from fp32)."""
    column = COLUMN[budget.metric]
    if budget.min is not None and not value[column] >= budget.min:
        return False
    return budget.max_drop is None or fp32[column] - value[column] <= budget.max_drop


@dataclass
class BudgetSearch:
    """The outcome: quantized / skipped layers (model order), scores of the choice on the search and held-out
    inputs, the evaluations it took, and the ranking it followed."""

    quantized: list[str]
    skipped: list[str]
    search_score: dict[str, float]
    heldout_score: dict[str, float]
    evaluations: int
    seconds: float
    ranking: Sensitivity
    notes: list[str] = field(default_factory=list)
    budget: str = ""


def _longest_prefix(order: list[str], ok: Callable[[list[str]], bool], hi: int) -> tuple[int, int]:
    """Largest k <= hi with ok(order[:k]) (assumed monotone in k; k = 0 is fp32 and always ok).
    Returns (k, evaluations)."""
    evals = 1
    if ok(order[:hi]):
        return hi, evals
    lo = 0  # ok(lo) holds, ok(hi) fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        evals += 1
        lo, hi = (mid, hi) if ok(order[:mid]) else (lo, mid)
    return lo, evals


def search_budget(board: Switchboard, search: Probe, heldout: Probe, budget, on_progress=None,
                  ranks: Ranks = SINGLE) -> BudgetSearch:  # fmt: skip
    """The largest set of layers, taken least-sensitive first, whose model meets `budget` on `search` and on
    `heldout` (see the module docstring); the ranking is split over `ranks`, the search runs on each."""
    start = time.perf_counter()
    ranking = rank(board, search, budget.metric, "layer", "only", on_progress, ranks)
    order = list(reversed(ranking.frame["group"]))  # least sensitive first
    fp32_search, fp32_held = reference_score(search), reference_score(heldout)
    k, evals = _longest_prefix(order, lambda s: meets(score(board, s, search), budget, fp32_search), len(order))
    k_held, more = _longest_prefix(order, lambda s: meets(score(board, s, heldout), budget, fp32_held), k)
    notes = []
    if k_held < k:
        notes.append(f"held-out inputs failed the budget with {k} layers: shrank to {k_held}")
    if k_held == 0:
        notes.append("no layer meets the budget even alone: the recipe runs every layer in fp32")
    chosen = set(order[:k_held])
    quantized = [n for n in board.layers if n in chosen]
    result = BudgetSearch(
        quantized, [n for n in board.layers if n not in chosen], score(board, quantized, search),
        score(board, quantized, heldout), len(order) + 1 + evals + more + 2, time.perf_counter() - start,
        ranking, notes,
    )  # fmt: skip
    board.set(board.layers)
    return result


# ---------------------------------------------------------------------------------------------- inputs


def make_probes(model, images, transform, count: int, skip_images: int, seed: int) -> tuple[Probe, Probe]:
    """A search probe and a held-out probe of `count` inputs each, disjoint from calibration.

    With `images` (an ImageSet): the `count` images after the first `skip_images` (those calibrate), then the
    `count` after them. Without: seeded N(0, 1) inputs (seeds `seed + 2` and `seed + 3`; calibration uses
    `seed + 1`).
    """
    import dataclasses

    from swinprof.evaluate.imagefolder import iter_batches

    probes = []
    for i in range(2):
        if images is None:
            g = torch.Generator().manual_seed(seed + 2 + i)
            size = model.config.img_size
            x = torch.randn(count, model.config.in_chans, size, size, generator=g)
            probes.append(Probe.of(model, x, source=f"seeded random N(0,1) inputs (seed {seed + 2 + i})"))
            continue
        a = skip_images + i * count
        part = dataclasses.replace(images, paths=images.paths[a : a + count],
                                   labels=images.labels[a : a + count] if images.labeled else None)  # fmt: skip
        if len(part) == 0:
            raise RecipeError(
                f"{images.root}: {len(images)} images leave none for the sensitivity probes after "
                f"{skip_images} calibration images; add images or lower the calibration count"
            )
        batches = list(iter_batches(part, transform, count))
        x = torch.cat([b for b, _ in batches])
        labels = torch.cat([y for _, y in batches]) if part.labeled else None
        probes.append(Probe.of(model, x, labels, f"{len(part)} images of {images.root} (after {a})"))
    return probes[0], probes[1]


def apply_budget(recipe, model, calibration, images, transform, seed: int, say=None, ranks: Ranks = SINGLE):
    """Search `recipe`'s `[quantize.budget]` on `model` and return `(recipe with the chosen skip list and no
    budget, BudgetSearch)`; the returned recipe re-runs the same quantized set without searching.

    `calibration`: the recipe's calibration batches (the probes never reuse them: with `images` they start
    after the calibration images, without they use other seeds)."""
    from swinprof.optimize.switch import build_switchboard

    say = say or (lambda _m: None)
    budget = recipe.quantize.budget
    board, notes = build_switchboard(recipe, model, calibration)
    used = sum(len(c) for c in calibration) if images is not None else 0
    search, heldout = make_probes(model, images, transform, budget.samples, used, seed)
    if budget.metric == "accuracy" and search.labels is None:
        raise RecipeError(f"recipe {recipe.name!r}: an accuracy budget needs labeled images (--data ImageFolder)")
    say(f"{recipe.name}: budget search over {len(board.layers)} layers ({budget.metric}) on {search.source}")
    result = search_budget(board, search, heldout, budget,
                           on_progress=lambda i, n, name: say(f"ranking {i}/{n}") if i % 20 == 1 else None,
                           ranks=ranks)  # fmt: skip
    limit = f"min {budget.min:g}" if budget.min is not None else f"max drop {budget.max_drop:g}"
    result.budget = f"{budget.metric} {limit}"
    result.notes = notes + result.notes + [f"search inputs: {search.source}; held-out: {heldout.source}"]
    skip = tuple(dict.fromkeys([*recipe.quantize.skip, *result.skipped]))
    chosen = recipe.replace("quantize", skip=list(skip), budget={"metric": "none", "min": None, "max_drop": None})
    return chosen, result


def budget_frame(searches: dict[str, BudgetSearch]) -> pd.DataFrame:
    """One row per budgeted recipe: the budget, what the search chose and what it scored (the run's table)."""
    rows = []
    for name, s in searches.items():
        column = COLUMN[s.ranking.metric]
        rows.append({
            "recipe": name, "metric": s.ranking.metric,
            "quantized": f"{len(s.quantized)} of {len(s.quantized) + len(s.skipped)}",
            "skipped": ", ".join(s.skipped) or "-",
            f"search {column}": s.search_score[column], f"held-out {column}": s.heldout_score[column],
            "evaluations": s.evaluations, "search s": s.seconds,
            "budget": s.budget,
        })  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SensitivityPlan:
    """What `swinprof sensitivity` asks: one model, one recipe's quantizer, how to group and score."""

    variant: str
    recipe: str  # recipe file or preset
    metric: str = "sqnr"
    group: str = "layer"
    mode: str = "only"
    img_size: int | None = None
    weights: str | None = None
    model_config: tuple[tuple[str, object], ...] = ()  # create_model overrides, already checked
    data: str | None = None
    class_map: str | None = None
    samples: int = 8
    labels: str | None = None  # labels file of a flat --data folder
    calib_count: int | None = None
    recipe_layers: bool = False  # rank only the layers the recipe quantizes (else every one its include selects)
    seed: int = 0


@dataclass
class SensitivityRun:
    """The ranking and what it was made with: the recipe as run, its prepare notes, probe source, prepare time."""

    recipe: object  # optimize.recipe.Recipe
    result: Sensitivity
    notes: list[str]
    probe_source: str
    prepare_s: float


def check_sensitivity(plan: SensitivityPlan):
    """The recipe as the plan runs it and the scanned images; every check that can fail, before any work."""
    from swinprof.errors import SwinprofError
    from swinprof.evaluate.imagefolder import scan_images
    from swinprof.optimize.presets import get_recipe
    from swinprof.optimize.recipe import check_requirements, to_dict
    from swinprof.optimize.switch import check_supported

    recipe = get_recipe(plan.recipe).replace("model", name=plan.variant, img_size=plan.img_size)
    if plan.calib_count is not None:
        calibration = {**to_dict(recipe.quantize.calibration), "count": plan.calib_count}
        recipe = recipe.replace("quantize", calibration=calibration)
    check_requirements(recipe)
    check_supported(recipe)
    images = scan_images(plan.data, plan.class_map, labels=plan.labels) if plan.data else None
    if plan.metric == "accuracy" and (images is None or not images.labeled):
        raise SwinprofError("--metric accuracy needs --data FOLDER with class folders (ImageFolder layout)")
    return recipe, images


def sensitivity_fingerprint(plan: SensitivityPlan, images) -> dict:
    """What every torchrun rank must share: the plan (paths by content: the weights' digest, the data listing)."""
    import dataclasses

    from swinprof.studies.recipe_evaluation import BY_CONTENT, file_digest, listing_digest

    fields = {k: v for k, v in dataclasses.asdict(plan).items() if k not in BY_CONTENT}
    return {"plan": fields, "weights": file_digest(plan.weights), "data": listing_digest(images)}


def run_sensitivity(plan: SensitivityPlan, say: Callable[[str], None] = lambda _m: None,
                    ranks: Ranks = SINGLE) -> SensitivityRun:  # fmt: skip
    """Prepare the recipe's quantized model once (a switchboard), then rank the plan's groups by their score
    (split over `ranks` under torchrun, every rank holding the whole ranking at the end)."""
    from swinprof.models import create_model, get_variant
    from swinprof.models.preprocess import build_transform
    from swinprof.optimize.switch import build_switchboard
    from swinprof.studies.calibration import calibration_batches

    recipe, images = check_sensitivity(plan)
    ranks.agree(sensitivity_fingerprint(plan, images))
    torch.manual_seed(plan.seed)
    model = create_model(plan.variant, img_size=plan.img_size, weights=plan.weights, **dict(plan.model_config))
    model = model.eval()
    img = model.config.img_size
    transform = build_transform(get_variant(plan.variant), img)
    calibration = calibration_batches(recipe, images, transform, (model.config.in_chans, img, img), "cpu", plan.seed)
    say(f"preparing {recipe.name} once ({recipe.method.summary}) with {sum(len(c) for c in calibration)} "
        "calibration inputs")  # fmt: skip
    start = time.perf_counter()
    board, notes = build_switchboard(recipe, model, calibration, ignore_skip=not plan.recipe_layers)
    prepare_s = time.perf_counter() - start
    used = sum(len(c) for c in calibration) if images is not None else 0
    probe, _ = make_probes(model, images, transform, plan.samples, used, plan.seed)
    say(f"scoring {len(board.layers)} layers by {plan.group}, mode {plan.mode}, on {probe.x.shape[0]} inputs")
    result = rank(board, probe, plan.metric, plan.group, plan.mode,
                  on_progress=lambda i, n, name: say(f"{i}/{n} {name}") if i % 10 == 1 else None,
                  ranks=ranks)  # fmt: skip
    return SensitivityRun(recipe, result, notes, probe.source, prepare_s)
