"""A recipe run as one study: recipes against the fp32 eager baseline (fidelity, accuracy, latency, size, memory,
compile behaviour), over typed values: a `RunPlan` in, a `RunResult` out.

Everything is checked before any work (`plan_run`: recipes, machine, data folder). `run_plan` then goes through
its steps in order: build the fp32 model, prepare every recipe (`recipe_prepare`), first calls, what runs
quantized (the runtime's proof counter), fidelity and accuracy, interleaved timing (`recipe_timing`), the process
peaks, and the rows (`recipe_rows`) with their warnings. `swinprof.studies.recipe_record` turns the result into one
Report and the files published with it, so an interrupted run leaves nothing half-written. Two memory meters per
row: the tensor peak of one forward (eager PyTorch rows) and the process peak of a fresh process that prepares the
recipe and runs one forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from swinprof.errors import DataPathError, RecipeError
from swinprof.evaluate.fidelity import Fidelity, batched_logits, compare_logits
from swinprof.evaluate.imagefolder import Accuracy, ImageSet, accuracy_of, iter_batches, scan_images, scan_unlabeled
from swinprof.optimize.compile import CompileStats
from swinprof.optimize.fresh import FreshPeak, fresh_process_peak, save_model
from swinprof.optimize.prepare import Prepared, state_dict_bytes
from swinprof.optimize.proof import QuantizedCount, count_quantized, execution_warnings
from swinprof.optimize.recipe import Recipe, check_requirements, to_dict
from swinprof.studies.faster_runtimes import runtime_gaps
from swinprof.studies.recipe_prepare import BASELINE, PreparedRecipe, baseline_recipe, prepare_recipes
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


@dataclass(frozen=True)
class RunPlan:
    """What a run does: the recipes, overridden and checked (`plan_run`), and the options they were run with."""

    recipes: tuple[Recipe, ...]
    options: RunOptions

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


def resolve(recipes: list[Recipe], opts: RunOptions) -> list[Recipe]:
    """Apply the command-line overrides, then check everything that can fail before any work starts."""
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
    """The run `recipes` make with `opts`: overrides applied, everything checked (`resolve`)."""
    return RunPlan(tuple(resolve(recipes, opts)), opts)


def _scan(opts: RunOptions, recipe: Recipe) -> ImageSet | None:
    if not opts.data:
        if opts.class_map:
            raise DataPathError("--class-map needs --data FOLDER")
        return None
    return scan_images(opts.data, opts.class_map, recipe.evaluate.limit)


def _image_tensor(images: ImageSet, transform, count: int) -> torch.Tensor:
    return torch.cat([x for x, _ in iter_batches(images, transform, 16, count)])


@dataclass(frozen=True)
class _FidelityRun:
    fidelity: dict[str, Fidelity]
    source: str  # what the inputs were, in words
    samples: int


def _fidelity(plan: RunPlan, model, fns, images, transform, shape, device, say) -> _FidelityRun:
    """Fidelity of every model against fp32 eager on images (with --data) or seeded random inputs."""
    opts = plan.options
    n_fid = max(r.evaluate.fidelity_samples for r in plan.recipes)
    eval_batch = plan.lead.evaluate.batch_size
    if images is not None:
        x_fid, source = _image_tensor(images, transform, n_fid).to(device), f"{len(images)} images from {opts.data}"
    else:
        g = torch.Generator().manual_seed(opts.seed)
        x_fid = torch.randn(n_fid, *shape, generator=g).to(device)
        source = f"seeded random N(0,1) inputs (seed {opts.seed})"
    say(f"fidelity vs fp32 on {x_fid.shape[0]} inputs ({source})")
    ref = batched_logits(model, x_fid, eval_batch)
    fid = {name: compare_logits(ref, batched_logits(fn, x_fid, eval_batch)) for name, fn in fns.items()}
    return _FidelityRun(fid, source, int(x_fid.shape[0]))


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
) -> RunResult:
    """Compare the plan's recipes with the fp32 eager baseline on one model.

    `model` replaces the recipe's `[model]` (a custom or already-loaded SwinTransformer); `workdir` holds
    intermediate files (ONNX, the weights the fresh processes load) until the caller publishes the record.
    """
    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform

    say = on_event or (lambda _msg: None)
    workdir.mkdir(parents=True, exist_ok=True)
    lead, opts = plan.lead, plan.options
    images = _scan(opts, lead)
    device = torch.device(lead.target.device)
    model = (model if model is not None else _fp32_model(plan, say)).eval().to(device)
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    transform = build_transform(get_variant(lead.model.name), img)
    calibration_images = scan_unlabeled(opts.calibration_data) if opts.calibration_data else None
    ready = prepare_recipes(plan.recipes, model, workdir, images, transform, opts.seed, say, calibration_images)
    recipes = _as_run(plan, ready)
    prepared = {p.name: p.prepared for p in ready}
    fns: dict[str, Callable] = {BASELINE: model, **{name: p.fn for name, p in prepared.items()}}
    batch_sizes = sorted({b for r in recipes for b in r.benchmark.batch_sizes})
    say(f"first calls (compiles) at batch sizes {batch_sizes}")
    first = first_calls(fns, batch_sizes, shape, device)
    quantized = {p.name: c for p in ready if (c := count_quantized(p.recipe, p.prepared, model)) is not None}
    proof_warnings = [w for p in ready for w in execution_warnings(p.recipe, p.prepared, quantized.get(p.name))]
    fid = _fidelity(plan, model, fns, images, transform, shape, device, say)
    acc = None
    if images is not None and images.labeled:
        say(f"accuracy on {len(images)} labeled images ({images.layout})")
        acc = accuracy_of(fns, images, transform, lead.evaluate.batch_size)
    timed = time_interleaved(fns, recipes, batch_sizes, shape, device, opts.bench_lock, say)
    stats = {name: p.compiled.stats() for name, p in prepared.items() if p.compiled is not None}
    process = _process_peaks(plan, model, ready, batch_sizes, workdir, say) if opts.process_memory else None
    measured = Measured(timed, first, fid.fidelity, acc, process, stats, quantized)
    rows = comparison_rows(recipes, prepared, measured, state_dict_bytes(model))
    warnings = [f"{r['recipe']} at batch {r['batch']}: {r['flag']}" for r in rows if r["flag"]]
    warnings += runtime_gaps(rows, {r.name: r.target.precision for r in recipes}, lead.model.name)
    inputs = RunInputs(
        model=lead.model.name, img_size=img, model_config=opts.model_config, weights=opts.weights,
        device=str(device), data=opts.data, data_layout=images.layout if images else None,
        images=len(images) if images else 0, calibration_data=opts.calibration_data, fidelity_inputs=fid.source,
        fidelity_samples=fid.samples,
        eval_batch_size=lead.evaluate.batch_size, batch_sizes=batch_sizes, warmup=timed.warmup, iters=timed.iters,
        settle_ms=timed.settle_ms, seed=opts.seed, preprocessing=transform.describe(), crop_pct=transform.crop_pct,
        bench_lock=opts.bench_lock, process_memory=opts.process_memory,
    )  # fmt: skip
    warnings += _compile_warnings(stats) + proof_warnings
    budgets = {p.name: p.budget for p in ready if p.budget is not None}
    return RunResult(recipes, pd.DataFrame(rows), fid.fidelity, acc, prepared, inputs, warnings, stats, process,
                     budgets, quantized)  # fmt: skip


def run_recipes(
    recipes: list[Recipe],
    opts: RunOptions,
    workdir: Path,
    on_event: Callable[[str], None] | None = None,
    model: torch.nn.Module | None = None,
) -> RunResult:
    """`run_plan` of `recipes` already `resolve`d with `opts`."""
    return run_plan(RunPlan(tuple(recipes), opts), workdir, on_event, model)
