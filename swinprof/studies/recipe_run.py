"""Run recipes against the fp32 eager baseline: fidelity, accuracy, latency, size, memory, compile behaviour.

Everything is checked before any work (recipes, machine, data folder); results are returned as data
(`RunResult`); `swinprof.studies.recipe_record` turns them into one Report and the files published with it, so an
interrupted run leaves nothing half-written. Two memory meters per row: the tensor peak of one forward (eager
PyTorch rows) and the process peak of a fresh process that prepares the recipe and runs one forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from swinprof.errors import DataPathError, RecipeError
from swinprof.evaluate.fidelity import Fidelity, batched_logits, compare_logits
from swinprof.evaluate.imagefolder import Accuracy, ImageSet, accuracy_of, iter_batches, scan_images
from swinprof.measure.memory import forward_tensor_peak
from swinprof.measure.timing import SETTLE_MS, measure_interleaved, time_once
from swinprof.optimize.compile import CompileStats
from swinprof.optimize.fresh import FreshPeak, fresh_process_peak, save_model
from swinprof.optimize.methods import get_runtime
from swinprof.optimize.proof import count_quantized, execution_warnings
from swinprof.optimize.recipe import Recipe, check_requirements, parse_recipe, to_dict
from swinprof.optimize.runner import Prepared, prepare, state_dict_bytes
from swinprof.studies.calibration import calibration_batches
from swinprof.studies.faster_runtimes import runtime_gaps

BASELINE = "fp32-eager"
SLOWER_MARGIN = 1.0  # a speedup below this is flagged "slower"
LOW_SQNR_DB = 20.0


@dataclass
class RunOptions:
    """Command-line overrides of the recipes' defaults (None keeps the recipe's value)."""

    model: str | None = None
    img_size: int | None = None
    weights: str | None = None
    data: str | None = None
    class_map: str | None = None
    limit: int | None = None
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


@dataclass
class RunResult:
    """What a run measured. `table`: one row per (recipe, batch size), machine column names; `process_peaks`:
    None when not measured; `compile_stats`: per compiled recipe; `inputs`: what was asked and used."""

    recipes: list[Recipe]
    table: pd.DataFrame
    fidelity: dict[str, Fidelity]
    accuracy: dict[str, Accuracy] | None
    prepared: dict[str, Prepared]
    inputs: dict
    warnings: list[str] = field(default_factory=list)
    compile_stats: dict[str, CompileStats] = field(default_factory=dict)
    process_peaks: dict[tuple[str, int], FreshPeak] | None = None
    budgets: dict = field(default_factory=dict)  # recipe name -> BudgetSearch (recipes with an accuracy budget)
    quantized: dict = field(default_factory=dict)  # recipe name -> proof.QuantizedCount (what runs quantized)


def is_baseline(r: Recipe) -> bool:
    """A recipe that is plain fp32 eager PyTorch: it *is* the baseline and gets no row of its own."""
    return (r.quantize.method, r.compile.backend, r.target.runtime, r.target.precision) == (
        "none", "none", "pytorch", "fp32",
    )  # fmt: skip


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
        check_requirements(r)
        cal = r.quantize.calibration
        if r.method.calibrated and cal.source == "data" and not opts.data:
            raise RecipeError(
                f"recipe {r.name!r} calibrates on images ([quantize.calibration] source = 'data'): pass --data FOLDER"
            )
        if r.quantize.budget.metric != "none":
            from swinprof.optimize.switch import check_supported

            check_supported(r)
            if r.quantize.budget.metric == "accuracy" and not opts.data:
                raise RecipeError(f"recipe {r.name!r} has an accuracy budget: pass --data FOLDER (ImageFolder)")
    return out


def _scan(opts: RunOptions, recipe: Recipe) -> ImageSet | None:
    if not opts.data:
        if opts.class_map:
            raise DataPathError("--class-map needs --data FOLDER")
        return None
    return scan_images(opts.data, opts.class_map, recipe.evaluate.limit)


def _image_tensor(images: ImageSet, transform, count: int) -> torch.Tensor:
    return torch.cat([x for x, _ in iter_batches(images, transform, 16, count)])


def _first_calls(fns: dict[str, Callable], batch_sizes, shape, device) -> dict[tuple[str, int], float]:
    """Seconds of the first call of each callable at each batch size (includes compilation where there is one)."""
    out = {}
    for b in batch_sizes:
        x = torch.randn(b, *shape).to(device)
        for name, fn in fns.items():
            with torch.inference_mode():
                out[(name, b)] = time_once(lambda fn=fn, x=x: fn(x), device) / 1e3
    return out


@contextlib.contextmanager
def _locked(path: str | None, say: Callable[[str], None]):
    """Hold an exclusive flock on `path` (so one benchmark times at a time); no-op without a path."""
    if not path:
        yield
        return
    import fcntl

    with open(path, "a") as f:
        say(f"waiting for the benchmark lock {path}")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def meters_tensor_peak(r: Recipe) -> bool:
    """Whether the tensor-peak meter sees `r`'s kernels: eager runs through PyTorch's dispatcher only; compiled
    graphs, ONNX Runtime and TensorRT allocate outside it."""
    return get_runtime(r.target.runtime).spec.dispatcher and r.compile.backend == "none"


def _tensor_peak(name: str, recipes: list[Recipe], fn: Callable, x: torch.Tensor, device) -> int | None:
    """Tensor peak of one forward where the meter can see it (`meters_tensor_peak`), else None."""
    recipe = next((r for r in recipes if r.name == name), None)
    if recipe is not None and not meters_tensor_peak(recipe):
        return None
    return forward_tensor_peak(lambda: fn(x), device)


def _describe_compile(r: Recipe) -> str:
    return "-" if r.compile.backend == "none" else f"{r.compile.backend}:{r.compile.mode}"


def _mib(value: int | None) -> float | None:
    return value / 2**20 if value is not None else None


def _flags(name: str, speedup: float, f: Fidelity | None) -> list[str]:
    flags = []
    if name != BASELINE and speedup < SLOWER_MARGIN:
        flags.append("SLOWER than fp32")
    if f is not None and name != BASELINE and f.sqnr_db < LOW_SQNR_DB:
        flags.append(f"SQNR < {LOW_SQNR_DB:g} dB")
    return flags


@dataclass
class _Measured:
    """Everything measured per model, gathered for the rows."""

    timings: dict
    first: dict
    fidelity: dict[str, Fidelity]
    accuracy: dict[str, Accuracy] | None
    tensor_peaks: dict
    process_peaks: dict | None
    compile_stats: dict[str, CompileStats]
    quantized: dict = field(default_factory=dict)


def _quality(name: str, m: _Measured) -> dict:
    f = m.fidelity.get(name)
    a = m.accuracy.get(name) if m.accuracy else None
    a0 = m.accuracy.get(BASELINE) if m.accuracy else None
    return {
        "sqnr_db": f.sqnr_db if f else None,
        "top1_agree": f.top1_agreement if f else None,
        "top5_agree": f.top5_agreement if f else None,
        "cosine": f.cosine if f else None,
        "max_abs_err": f.max_abs_err if f else None,
        "acc1": a.acc1 if a else None,
        "acc5": a.acc5 if a else None,
        "d_acc1": (a.acc1 - a0.acc1) if a and a0 else None,
    }


def _memory(name: str, b: int, m: _Measured, size: int | None) -> dict:
    tensor = m.tensor_peaks.get((name, b))
    fresh = m.process_peaks.get((name, b)) if m.process_peaks is not None else None
    process = fresh.bytes if fresh is not None else None
    return {"size_bytes": size, "size_mb": _mib(size), "tensor_peak_bytes": tensor, "tensor_peak_mb": _mib(tensor),
            "process_peak_bytes": process, "process_peak_mb": _mib(process)}  # fmt: skip


def _compile_columns(name: str, m: _Measured) -> dict:
    stats = m.compile_stats.get(name)
    if stats is None:
        return {"compile_graphs": None, "compile_breaks": None, "compile_recompiles": None, "dynamo": "-"}
    return {"compile_graphs": stats.graphs, "compile_breaks": stats.breaks, "compile_recompiles": stats.recompiles,
            "dynamo": stats.summary}  # fmt: skip


def _rows(recipes: list[Recipe], prepared: dict[str, Prepared], m: _Measured, baseline_size: int) -> list[dict]:
    rows = []
    by_name = {r.name: r for r in recipes}
    for (name, b), timing in m.timings.items():
        r, p = by_name.get(name), prepared.get(name)
        speedup = m.timings[(BASELINE, b)].median / timing.median
        rows.append({
            "recipe": name,
            "method": r.quantize.method if r else "none",
            "runtime": r.target.runtime if r else "pytorch",
            "compile": _describe_compile(r) if r else "-",
            "quantized_linears": m.quantized[name].cell if name in m.quantized else "-",
            "batch": b,
            "median_ms": timing.median,
            "p90_ms": timing.p90,
            "img_per_s": 1e3 * b / timing.median,
            "speedup": speedup,
            **_quality(name, m),
            **_memory(name, b, m, baseline_size if p is None else p.size_bytes),
            "prepare_s": p.prepare_s if p else 0.0,
            "first_call_s": m.first[(name, b)],
            **_compile_columns(name, m),
            "flag": "; ".join(_flags(name, speedup, m.fidelity.get(name))),
        })  # fmt: skip
    return rows


def _baseline_recipe(lead: Recipe) -> Recipe:
    """The fp32 eager recipe the baseline row stands for (same model and device as the run)."""
    model = {k: v for k, v in to_dict(lead.model).items() if v is not None}
    return parse_recipe({"meta": {"name": BASELINE}, "model": model, "target": {"device": lead.target.device}})


def _process_peaks(
    recipes: list[Recipe],
    model: torch.nn.Module,
    calibrations: dict,
    batch_sizes,
    workdir: Path,
    opts: RunOptions,
    say: Callable[[str], None],
) -> dict[tuple[str, int], FreshPeak]:
    """One fresh process per (recipe, batch size): load the same fp32 weights, prepare, one forward."""
    lead = recipes[0]
    jobs = [_baseline_recipe(lead), *(r for r in recipes if not is_baseline(r))]
    model_file = save_model(model, workdir / "fp32-weights.pt")
    out = {}
    for r in jobs:
        calib = None
        if calibrations.get(r.name):
            calib = workdir / f"{r.name}.calibration.pt"
            torch.save([t.cpu() for t in calibrations[r.name]], calib)
        for b in batch_sizes:
            say(f"process peak of {r.name} at batch {b}: fresh process (prepare + forward)")
            out[(r.name, b)] = fresh_process_peak(to_dict(r), model_file, b, calib, opts.seed)
    return out


def _fidelity(model, fns, images, transform, shape, device, recipes, opts, say):
    """Fidelity of every model against fp32 eager on images (with --data) or seeded random inputs."""
    n_fid = max(r.evaluate.fidelity_samples for r in recipes)
    eval_batch = recipes[0].evaluate.batch_size
    if images is not None:
        x_fid, source = _image_tensor(images, transform, n_fid).to(device), f"{len(images)} images from {opts.data}"
    else:
        g = torch.Generator().manual_seed(opts.seed)
        x_fid = torch.randn(n_fid, *shape, generator=g).to(device)
        source = f"seeded random N(0,1) inputs (seed {opts.seed})"
    say(f"fidelity vs fp32 on {x_fid.shape[0]} inputs ({source})")
    ref = batched_logits(model, x_fid, eval_batch)
    fid = {name: compare_logits(ref, batched_logits(fn, x_fid, eval_batch)) for name, fn in fns.items()}
    return fid, source, int(x_fid.shape[0])


def settle_ms(recipes: list[Recipe], device: torch.device) -> float:
    """Idle time before each timed call: `SETTLE_MS` when CPU recipes run on more than one runtime (their thread
    pools spin-wait after a call and would share the cores with the next runtime's call), else 0."""
    return SETTLE_MS if device.type == "cpu" and len({r.target.runtime for r in recipes}) > 1 else 0.0


def _time_all(fns, recipes, batch_sizes, shape, device, opts, say):
    """Interleaved timings and the tensor peak of one forward, per (model, batch size), under the bench lock."""
    warmup = max(r.benchmark.warmup for r in recipes)
    iters = max(r.benchmark.iters for r in recipes)
    settle = settle_ms(recipes, device)
    timings, peaks = {}, {}
    with _locked(opts.bench_lock, say):
        for b in batch_sizes:
            say(f"timing batch {b}: {len(fns)} models interleaved, {warmup} warmup + {iters} iterations")
            x = torch.randn(b, *shape).to(device)
            calls = {n: (lambda fn=fn, x=x: fn(x)) for n, fn in fns.items()}
            t = measure_interleaved(calls, warmup, iters, device, settle_ms=settle)
            for name in fns:
                timings[(name, b)] = t[name]
                peaks[(name, b)] = _tensor_peak(name, recipes, fns[name], x, device)
    return timings, peaks, warmup, iters, settle


def _prepare_all(recipes, model, images, transform, workdir, opts, say):
    """Every non-baseline recipe prepared on `model`, the calibration batches each one used, the recipes as run
    (a budgeted recipe comes back with the skip list its search chose) and the budget searches."""
    from swinprof.studies.sensitivity import apply_budget

    device = next(model.parameters()).device
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    prepared, calibrations, ran, budgets = {}, {}, [], {}
    for r in recipes:
        if is_baseline(r):
            ran.append(r)
            continue
        calibrations[r.name] = calibration_batches(r, images, transform, shape, device, opts.seed)
        if r.quantize.budget.metric != "none":
            r, budgets[r.name] = apply_budget(r, model, calibrations[r.name], images, transform, opts.seed, say)
        say(f"preparing {r.name}: {r.method.summary}")
        prepared[r.name] = prepare(r, model, calibrations[r.name], workdir)
        ran.append(r)
    return prepared, calibrations, ran, budgets


def _fp32_model(lead: Recipe, opts: RunOptions, say) -> torch.nn.Module:
    from swinprof.models import create_model

    say(f"building {lead.model.name} (fp32)" + (f" from {opts.weights}" if opts.weights else ", random init"))
    torch.manual_seed(opts.seed)
    return create_model(lead.model.name, img_size=lead.model.img_size, attn_impl=lead.model.attn_impl,
                        weights=opts.weights, **opts.model_config)  # fmt: skip


def _compile_warnings(stats: dict[str, CompileStats]) -> list[str]:
    return [f"{name} (torch.compile): {line}" for name, s in stats.items() for line in s.problems()]


def run_recipes(
    recipes: list[Recipe],
    opts: RunOptions,
    workdir: Path,
    on_event: Callable[[str], None] | None = None,
    model: torch.nn.Module | None = None,
) -> RunResult:
    """Compare `recipes` (already `resolve`d) with the fp32 eager baseline on one model.

    `model` replaces the recipe's `[model]` (a custom or already-loaded SwinTransformer); `workdir` holds
    intermediate files (ONNX, the weights the fresh processes load) until the caller publishes the record.
    """
    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform

    say = on_event or (lambda _msg: None)
    workdir.mkdir(parents=True, exist_ok=True)
    lead = recipes[0]
    images = _scan(opts, lead)
    variant = get_variant(lead.model.name)
    device = torch.device(lead.target.device)
    if model is None:
        model = _fp32_model(lead, opts, say)
    model = model.eval().to(device)
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    transform = build_transform(variant, img)
    prepared, calibrations, recipes, budgets = _prepare_all(recipes, model, images, transform, workdir, opts, say)
    fns: dict[str, Callable] = {BASELINE: model, **{name: p.fn for name, p in prepared.items()}}
    batch_sizes = sorted({b for r in recipes for b in r.benchmark.batch_sizes})
    say(f"first calls (compiles) at batch sizes {batch_sizes}")
    first = _first_calls(fns, batch_sizes, shape, device)
    by_name = {r.name: r for r in recipes}
    quantized = {n: c for n, p in prepared.items() if (c := count_quantized(by_name[n], p, model)) is not None}
    proof_warnings = [w for n, p in prepared.items() for w in execution_warnings(by_name[n], p, quantized.get(n))]
    fid, source, n_fid = _fidelity(model, fns, images, transform, shape, device, recipes, opts, say)
    acc = None
    if images is not None and images.labeled:
        say(f"accuracy on {len(images)} labeled images ({images.layout})")
        acc = accuracy_of(fns, images, transform, lead.evaluate.batch_size)
    timings, tensor_peaks, warmup, iters, settle = _time_all(fns, recipes, batch_sizes, shape, device, opts, say)
    stats = {name: p.compiled.stats() for name, p in prepared.items() if p.compiled is not None}
    process = None
    if opts.process_memory:
        process = _process_peaks(recipes, model, calibrations, batch_sizes, workdir, opts, say)
    measured = _Measured(timings, first, fid, acc, tensor_peaks, process, stats, quantized)
    rows = _rows(recipes, prepared, measured, state_dict_bytes(model))
    warnings = [f"{r['recipe']} at batch {r['batch']}: {r['flag']}" for r in rows if r["flag"]]
    warnings += runtime_gaps(rows, {r.name: r.target.precision for r in recipes}, lead.model.name)
    inputs = {
        "model": lead.model.name, "img_size": img, "model_config": opts.model_config, "weights": opts.weights,
        "device": str(device),
        "data": opts.data, "data_layout": images.layout if images else None, "images": len(images) if images else 0,
        "fidelity_inputs": source, "fidelity_samples": n_fid, "eval_batch_size": lead.evaluate.batch_size,
        "batch_sizes": batch_sizes, "warmup": warmup, "iters": iters, "settle_ms": settle, "seed": opts.seed,
        "preprocessing": transform.describe(), "crop_pct": transform.crop_pct, "bench_lock": opts.bench_lock,
        "process_memory": opts.process_memory,
    }  # fmt: skip
    warnings += _compile_warnings(stats) + proof_warnings
    return RunResult(recipes, pd.DataFrame(rows), fid, acc, prepared, inputs, warnings, stats, process, budgets,
                     quantized)  # fmt: skip
