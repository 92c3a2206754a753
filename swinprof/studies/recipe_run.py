"""A recipe run as one study: recipes against the fp32 eager baseline (fidelity, accuracy, latency, size, memory,
compile behaviour), over typed values: a `RunPlan` in, a `RunResult` out.

Everything is checked before any work (`plan_run`: recipes, machine, data folders, scanned). `run_plan` then goes
through its steps in order: build the fp32 model, prepare every recipe (`recipe_prepare`), first calls, what runs
quantized (the runtime's proof counter), fidelity and accuracy in one streaming pass over the images
(`recipe_evaluation`), interleaved timing (`recipe_timing`), the process peaks, and the rows (`recipe_rows`) with
their warnings. Under torchrun every rank prepares the recipes and evaluates its share of the images; rank 0 alone
times latency (in one process, after the other ranks have finished) and returns the result.
`swinprof.studies.recipe_record` turns the result into one Report and the files published with it, so an interrupted
run leaves nothing half-written. Two memory meters per row: the tensor peak of one forward (eager PyTorch rows) and
the process peak of a fresh process that prepares the recipe and runs one forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from swinprof.errors import RecipeError
from swinprof.evaluate.evaluation import EvaluationRates, Progress
from swinprof.evaluate.fidelity import Fidelity
from swinprof.evaluate.imagefolder import Accuracy, ImageSet
from swinprof.evaluate.journal import Journal
from swinprof.optimize.compile import CompileStats
from swinprof.optimize.fresh import FreshPeak, fresh_process_peak, save_model
from swinprof.optimize.prepare import Prepared, state_dict_bytes
from swinprof.optimize.proof import QuantizedCount, count_quantized, execution_warnings
from swinprof.optimize.recipe import Recipe, check_requirements, to_dict
from swinprof.ranks import SINGLE, Ranks
from swinprof.studies.faster_runtimes import runtime_gaps
from swinprof.studies.recipe_evaluation import evaluate_run, scan_data
from swinprof.studies.recipe_prepare import BASELINE, PreparedRecipe, baseline_recipe, is_baseline, prepare_recipes
from swinprof.studies.recipe_rows import Measured, comparison_rows
from swinprof.studies.recipe_timing import first_calls, time_interleaved

__all__ = ["BASELINE", "RunInputs", "RunOptions", "RunPlan", "RunResult", "plan_run", "resolve", "run_plan",
           "run_recipes"]  # fmt: skip


@dataclass(frozen=True)
class RunOptions:
    """Command-line overrides of the recipes' defaults (None keeps the recipe's value)."""

    model: str | None = None
    img_size: int | None = None
    weights: str | None = None
    data: str | None = None
    class_map: str | None = None
    limit: int | None = None
    calibration_data: str | None = None  # calibrate on this folder instead of --data (keeps test images unseen)
    device: str | None = None
    batch_sizes: tuple[int, ...] | None = None
    warmup: int | None = None
    iters: int | None = None
    eval_batch_size: int | None = None
    fidelity_samples: int | None = None
    seed: int = 0
    bench_lock: str | None = None  # flock this file around the timing loops only (shared benchmark machines)
    process_memory: bool = True  # one fresh process per (recipe, batch size) for its process peak
    model_config: dict = field(default_factory=dict)  # create_model overrides (`--model-config`)
    labels: str | None = None  # labels file of a flat --data folder (ImageNet's validation layout)
    workers: int = 0  # data-loader processes decoding images for the evaluation (0: in this process)


@dataclass(frozen=True)
class RunPlan:
    """What a run does: the recipes, overridden and checked (`plan_run`), the options they were run with, and
    the scanned `--data` and `--calibration-data` images (None without; of the latter only what calibration
    reads), with what the scan found worth a warning."""

    recipes: tuple[Recipe, ...]
    options: RunOptions
    images: ImageSet | None = None
    calibration_images: ImageSet | None = None
    scan_warnings: tuple[str, ...] = ()

    @property
    def lead(self) -> Recipe:
        """The first recipe: its model, device and evaluation settings are the run's."""
        return self.recipes[0]


@dataclass(frozen=True)
class RunInputs:
    """What was asked and used (the record's `inputs`, in this order)."""

    model: str
    img_size: int
    model_config: dict
    weights: str | None
    device: str
    data: str | None
    data_layout: str | None
    images: int
    calibration_data: str | None
    fidelity_inputs: str
    fidelity_samples: int
    eval_batch_size: int
    batch_sizes: list[int]
    warmup: int
    iters: int
    settle_ms: float
    seed: int
    preprocessing: list[str]
    crop_pct: float
    bench_lock: str | None
    process_memory: bool
    ranks: str = "1 process"  # who evaluated (`Ranks.describe`); latency is always timed by one process
    workers: int = 0
    labels: str | None = None


@dataclass
class RunResult:
    """What a run measured. `table`: one row per (recipe, batch size), machine column names; `process_peaks`:
    None when not measured; `compile_stats`: per compiled recipe; `inputs`: what was asked and used."""

    recipes: list[Recipe]
    table: pd.DataFrame
    fidelity: dict[str, Fidelity]
    accuracy: dict[str, Accuracy] | None
    prepared: dict[str, Prepared]
    inputs: RunInputs
    warnings: list[str] = field(default_factory=list)
    compile_stats: dict[str, CompileStats] = field(default_factory=dict)
    process_peaks: dict[tuple[str, int], FreshPeak] | None = None
    budgets: dict = field(default_factory=dict)  # recipe name -> BudgetSearch (recipes with an accuracy budget)
    quantized: dict[str, QuantizedCount] = field(default_factory=dict)  # what runs quantized, per recipe
    evaluation: EvaluationRates | None = None  # the pass over --data: images, rates, what bounded it


def resolve(recipes: list[Recipe], opts: RunOptions) -> list[Recipe]:
    """Apply the command-line overrides, then check everything that can fail before any work starts."""
    _check_names(recipes)
    out = []
    for r in recipes:
        r = r.replace("model", name=opts.model, img_size=opts.img_size)
        r = r.replace("target", device=opts.device)
        r = r.replace(
            "benchmark",
            batch_sizes=list(opts.batch_sizes) if opts.batch_sizes else None,
            warmup=opts.warmup,
            iters=opts.iters,
        )
        r = r.replace(
            "evaluate", limit=opts.limit, batch_size=opts.eval_batch_size, fidelity_samples=opts.fidelity_samples
        )
        out.append(r)
    first = out[0]
    for r in out[1:]:
        key = (r.model.name, r.model.img_size, r.target.device)
        if key != (first.model.name, first.model.img_size, first.target.device):
            raise RecipeError(
                f"recipes {first.name!r} and {r.name!r} differ in model or device: align them with --model/--device"
            )
    for r in out:
        _check_recipe(r, opts)
    return out


def _check_names(recipes: list[Recipe]) -> None:
    """Rows, files and the baseline are keyed by recipe name: two recipes of one name would replace each other."""
    seen: set[str] = set()
    for r in recipes:
        if r.name in seen:
            raise RecipeError(f"two recipes are named {r.name!r} ([meta].name): give each recipe of a run its own "
                              "name")  # fmt: skip
        seen.add(r.name)
        if r.name == BASELINE and not is_baseline(r):
            raise RecipeError(f"recipe {r.name!r} is not plain fp32 eager, but {BASELINE!r} names the run's baseline: "
                              "rename it ([meta].name)")  # fmt: skip


def _check_recipe(r: Recipe, opts: RunOptions) -> None:
    check_requirements(r)
    cal = r.quantize.calibration
    if r.method.calibrated and cal.source == "data" and not (opts.data or opts.calibration_data):
        raise RecipeError(
            f"recipe {r.name!r} calibrates on images ([quantize.calibration] source = 'data'): pass --data FOLDER "
            "or --calibration-data FOLDER"
        )
    if r.quantize.budget.metric != "none":
        from swinprof.optimize.switch import check_supported

        check_supported(r)
        if r.quantize.budget.metric == "accuracy" and not opts.data:
            raise RecipeError(f"recipe {r.name!r} has an accuracy budget: pass --data FOLDER (ImageFolder)")


def plan_run(recipes: list[Recipe], opts: RunOptions) -> RunPlan:
    """The run `recipes` make with `opts`: overrides applied, everything checked (`resolve`), the data folders
    scanned (before any model is built)."""
    return _scanned(resolve(recipes, opts), opts)


def _scanned(recipes: list[Recipe], opts: RunOptions) -> RunPlan:
    """The plan of resolved `recipes`, with their data folders scanned (`recipe_evaluation.scan_data`)."""
    images, calibration, warnings = scan_data(recipes, opts)
    return RunPlan(tuple(recipes), opts, images, calibration, tuple(warnings))


def _process_peaks(
    plan: RunPlan, model: torch.nn.Module, ready: list[PreparedRecipe], batch_sizes, workdir: Path, say
) -> dict[tuple[str, int], FreshPeak]:
    """One fresh process per (recipe, batch size): load the same fp32 weights, prepare, one forward."""
    jobs = [baseline_recipe(plan.lead), *(p.recipe for p in ready)]
    calibrations = {p.name: p.calibration for p in ready}
    model_file = save_model(model, workdir / "fp32-weights.pt")
    out = {}
    for r in jobs:
        calib = None
        if calibrations.get(r.name):
            calib = workdir / f"{r.name}.calibration.pt"
            torch.save([t.cpu() for t in calibrations[r.name]], calib)
        for b in batch_sizes:
            say(f"process peak of {r.name} at batch {b}: fresh process (prepare + forward)")
            out[(r.name, b)] = fresh_process_peak(to_dict(r), model_file, b, calib, plan.options.seed)
    return out


def _fp32_model(plan: RunPlan, say) -> torch.nn.Module:
    from swinprof.models import create_model

    lead, opts = plan.lead, plan.options
    say(f"building {lead.model.name} (fp32)" + (f" from {opts.weights}" if opts.weights else ", random init"))
    torch.manual_seed(opts.seed)
    return create_model(lead.model.name, img_size=lead.model.img_size, attn_impl=lead.model.attn_impl,
                        weights=opts.weights, **opts.model_config)  # fmt: skip


def _compile_warnings(stats: dict[str, CompileStats]) -> list[str]:
    return [f"{name} (torch.compile): {line}" for name, s in stats.items() for line in s.problems()]


def _as_run(plan: RunPlan, ready: list[PreparedRecipe]) -> list[Recipe]:
    """The plan's recipes as they ran: a budgeted recipe replaced by the one its search chose."""
    ran = {p.name: p.recipe for p in ready}
    return [ran.get(r.name, r) for r in plan.recipes]


def run_plan(
    plan: RunPlan,
    workdir: Path,
    on_event: Callable[[str], None] | None = None,
    model: torch.nn.Module | None = None,
    *,
    ranks: Ranks = SINGLE,
    journal: Journal | None = None,
    on_progress: Progress | None = None,
) -> RunResult | None:
    """Compare the plan's recipes with the fp32 eager baseline on one model.

    `model` replaces the recipe's `[model]` (a custom or already-loaded SwinTransformer); `workdir` holds
    intermediate files (ONNX, the weights the fresh processes load) until the caller publishes the record. Under
    torchrun (`ranks`), call on every rank: rank 0 returns the result, the others None once their share of the
    images is evaluated. `journal` (rank 0's) commits per-image results as they come and resumes from them.
    """
    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform

    say = on_event or (lambda _msg: None)
    workdir.mkdir(parents=True, exist_ok=True)
    lead, opts = plan.lead, plan.options
    device = torch.device(lead.target.device)
    model = (model if model is not None else _fp32_model(plan, say)).eval().to(device)
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    transform = build_transform(get_variant(lead.model.name), img)
    ready = prepare_recipes(plan.recipes, model, workdir, plan.images, transform, opts.seed, say,
                            plan.calibration_images, ranks)  # fmt: skip
    prepared = {p.name: p.prepared for p in ready}
    fns: dict[str, Callable] = {BASELINE: model, **{name: p.fn for name, p in prepared.items()}}
    recipes = _as_run(plan, ready)
    batch_sizes = sorted({b for r in recipes for b in r.benchmark.batch_sizes})
    first = {}
    if ranks.main:  # before the evaluation: a compile at the evaluation's batch size would hide its first call
        say(f"first calls (compiles) at batch sizes {batch_sizes}")
        first = first_calls(fns, batch_sizes, shape, device)
    evaluation = evaluate_run(plan, fns, BASELINE, transform, shape, device, workers=opts.workers, ranks=ranks,
                              journal=journal, on_progress=on_progress, say=say)  # fmt: skip
    if not ranks.main:
        return None
    # Rank 0 alone from here: the proof, interleaved timing (alone on the machine: the other ranks have finished),
    # process peaks, rows and warnings.
    quantized = {p.name: c for p in ready if (c := count_quantized(p.recipe, p.prepared, model)) is not None}
    proof_warnings = [w for p in ready for w in execution_warnings(p.recipe, p.prepared, quantized.get(p.name))]
    timed = time_interleaved(fns, recipes, batch_sizes, shape, device, opts.bench_lock, say)
    stats = {name: p.compiled.stats() for name, p in prepared.items() if p.compiled is not None}
    process = _process_peaks(plan, model, ready, batch_sizes, workdir, say) if opts.process_memory else None
    measured = Measured(timed, first, evaluation.fidelity, evaluation.accuracy, process, stats, quantized)
    rows = comparison_rows(recipes, prepared, measured, state_dict_bytes(model))
    warnings = list(plan.scan_warnings)
    warnings += [f"{r['recipe']} at batch {r['batch']}: {r['flag']}" for r in rows if r["flag"]]
    warnings += runtime_gaps(rows, {r.name: r.target.precision for r in recipes}, lead.model.name)
    images = plan.images
    inputs = RunInputs(
        model=lead.model.name, img_size=img, model_config=opts.model_config, weights=opts.weights,
        device=str(device), data=opts.data, data_layout=images.layout if images else None,
        images=len(images) if images else 0, calibration_data=opts.calibration_data,
        fidelity_inputs=evaluation.source, fidelity_samples=evaluation.samples,
        eval_batch_size=lead.evaluate.batch_size, batch_sizes=batch_sizes, warmup=timed.warmup, iters=timed.iters,
        settle_ms=timed.settle_ms, seed=opts.seed, preprocessing=transform.describe(), crop_pct=transform.crop_pct,
        bench_lock=opts.bench_lock, process_memory=opts.process_memory, ranks=ranks.describe(),
        workers=opts.workers, labels=opts.labels,
    )  # fmt: skip
    warnings += _compile_warnings(stats) + proof_warnings
    budgets = {p.name: p.budget for p in ready if p.budget is not None}
    return RunResult(recipes, pd.DataFrame(rows), evaluation.fidelity, evaluation.accuracy, prepared, inputs,
                     warnings, stats, process, budgets, quantized, evaluation.rates)  # fmt: skip


def run_recipes(
    recipes: list[Recipe],
    opts: RunOptions,
    workdir: Path,
    on_event: Callable[[str], None] | None = None,
    model: torch.nn.Module | None = None,
) -> RunResult:
    """`run_plan` of `recipes` already `resolve`d with `opts` (their data folders scanned here)."""
    return run_plan(_scanned(recipes, opts), workdir, on_event, model)
