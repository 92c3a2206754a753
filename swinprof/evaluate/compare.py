"""Run recipes against the fp32 eager baseline: fidelity, accuracy, latency, size, memory, compile time.

Everything is checked before any work (recipes, machine, data folder); results are returned as data and
written by `swinprof.evaluate.record` only at the end, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from swinprof.errors import DataPathError, RecipeError
from swinprof.evaluate.fidelity import Fidelity, compare_logits
from swinprof.evaluate.imagefolder import Accuracy, ImageSet, accuracy_of, iter_batches, scan_images
from swinprof.measure.memory import forward_tensor_peak
from swinprof.measure.timing import measure_interleaved, time_once
from swinprof.optimize.recipe import Recipe, check_requirements
from swinprof.optimize.runner import Prepared, prepare, state_dict_bytes

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


@dataclass
class RunResult:
    recipes: list[Recipe]
    table: pd.DataFrame
    fidelity: dict[str, Fidelity]
    accuracy: dict[str, Accuracy] | None
    prepared: dict[str, Prepared]
    inputs: dict
    warnings: list[str] = field(default_factory=list)


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
    return out


def _scan(opts: RunOptions, recipe: Recipe) -> ImageSet | None:
    if not opts.data:
        if opts.class_map:
            raise DataPathError("--class-map needs --data FOLDER")
        return None
    return scan_images(opts.data, opts.class_map, recipe.evaluate.limit)


def _image_tensor(images: ImageSet, transform, count: int) -> torch.Tensor:
    return torch.cat([x for x, _ in iter_batches(images, transform, 16, count)])


def batched_logits(fn: Callable, x: torch.Tensor, batch: int) -> torch.Tensor:
    """`fn` over `x` `(N, 3, H, W)` in batches of exactly `batch` (the last padded), so compiled static shapes
    see a single batch size. Returns `(N, classes)` on CPU."""
    outs = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch):
            chunk = x[start : start + batch]
            n = chunk.shape[0]
            if n < batch:
                chunk = torch.cat([chunk, chunk.new_zeros(batch - n, *chunk.shape[1:])])
            outs.append(fn(chunk)[:n].float().cpu())
    return torch.cat(outs)


def _calibration(r: Recipe, images: ImageSet | None, transform, shape, device, seed: int) -> list[torch.Tensor]:
    """Calibration batches `(b, 3, H, W)` for a recipe: images when asked (or `auto` with --data), else random."""
    cal = r.quantize.calibration
    if not r.method.calibrated:
        return []
    if images is not None and cal.source in ("auto", "data"):
        return [x.to(device) for x, _ in iter_batches(images, transform, cal.batch_size, cal.count)]
    g = torch.Generator().manual_seed(seed + 1)
    sizes = [min(cal.batch_size, cal.count - i) for i in range(0, cal.count, cal.batch_size)]
    return [torch.randn(b, *shape, generator=g).to(device) for b in sizes]


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


def _tensor_peak(name: str, recipes: list[Recipe], fn: Callable, x: torch.Tensor, device) -> int | None:
    """Tensor peak of one forward for eager PyTorch paths; None where kernels allocate outside the dispatcher
    (compiled graphs, ONNX Runtime, TensorRT), which the tensor-peak meter cannot see."""
    recipe = next((r for r in recipes if r.name == name), None)
    if recipe is not None and (recipe.compile.backend != "none" or recipe.target.runtime != "pytorch"):
        return None
    return forward_tensor_peak(lambda: fn(x), device)


def _describe_compile(r: Recipe) -> str:
    return "-" if r.compile.backend == "none" else f"{r.compile.backend}:{r.compile.mode}"


def _rows(recipes, fns, prepared, timings, first, fid, acc, peaks, baseline_size) -> list[dict]:
    rows = []
    by_name = {r.name: r for r in recipes}
    for (name, b), timing in timings.items():
        r = by_name.get(name)
        base = timings[(BASELINE, b)]
        speedup = base.median / timing.median
        f = fid.get(name)
        a = acc.get(name) if acc else None
        a0 = acc.get(BASELINE) if acc else None
        p = prepared.get(name)
        size = baseline_size if p is None else p.size_bytes
        flags = []
        if name != BASELINE and speedup < SLOWER_MARGIN:
            flags.append("SLOWER than fp32")
        if f is not None and name != BASELINE and f.sqnr_db < LOW_SQNR_DB:
            flags.append(f"SQNR < {LOW_SQNR_DB:g} dB")
        rows.append(
            {
                "recipe": name,
                "method": r.quantize.method if r else "none",
                "runtime": r.target.runtime if r else "pytorch",
                "compile": _describe_compile(r) if r else "-",
                "batch": b,
                "median_ms": timing.median,
                "p90_ms": timing.p90,
                "img_per_s": 1e3 * b / timing.median,
                "speedup": speedup,
                "sqnr_db": f.sqnr_db if f else None,
                "top1_agree": f.top1_agreement if f else None,
                "top5_agree": f.top5_agreement if f else None,
                "cosine": f.cosine if f else None,
                "max_abs_err": f.max_abs_err if f else None,
                "acc1": a.acc1 if a else None,
                "acc5": a.acc5 if a else None,
                "d_acc1": (a.acc1 - a0.acc1) if a and a0 else None,
                "size_mb": size / 2**20 if size else None,
                "tensor_peak_mb": peaks[(name, b)] / 2**20 if peaks.get((name, b)) is not None else None,
                "prepare_s": p.prepare_s if p else 0.0,
                "first_call_s": first[(name, b)],
                "flag": "; ".join(flags),
            }
        )
    return rows


def run_recipes(
    recipes: list[Recipe],
    opts: RunOptions,
    workdir: Path,
    on_event: Callable[[str], None] | None = None,
    model: torch.nn.Module | None = None,
) -> RunResult:
    """Compare `recipes` (already `resolve`d) with the fp32 eager baseline on one model.

    `model` replaces the recipe's `[model]` (a custom or already-loaded SwinTransformer); `workdir` holds
    intermediate files (ONNX) until the caller writes the record.
    """
    from swinprof.evaluate.preprocess import build_transform
    from swinprof.models import create_model, get_variant

    say = on_event or (lambda _msg: None)
    workdir.mkdir(parents=True, exist_ok=True)
    lead = recipes[0]
    images = _scan(opts, lead)
    variant = get_variant(lead.model.name)
    device = torch.device(lead.target.device)
    if model is None:
        say(f"building {lead.model.name} (fp32)" + (f" from {opts.weights}" if opts.weights else ", random init"))
        torch.manual_seed(opts.seed)
        model = create_model(lead.model.name, img_size=lead.model.img_size, attn_impl=lead.model.attn_impl,
                             weights=opts.weights)  # fmt: skip
    model = model.eval().to(device)
    img = model.config.img_size
    shape = (model.config.in_chans, img, img)
    transform = build_transform(variant, img)
    fns: dict[str, Callable] = {BASELINE: model}
    prepared: dict[str, Prepared] = {}
    for r in recipes:
        if is_baseline(r):
            continue
        say(f"preparing {r.name}: {r.method.summary}")
        calib = _calibration(r, images, transform, shape, device, opts.seed)
        prepared[r.name] = prepare(r, model, calib, workdir)
        fns[r.name] = prepared[r.name].fn
    batch_sizes = sorted({b for r in recipes for b in r.benchmark.batch_sizes})
    say(f"first calls (compiles) at batch sizes {batch_sizes}")
    first = _first_calls(fns, batch_sizes, shape, device)

    n_fid = max(r.evaluate.fidelity_samples for r in recipes)
    eval_batch = lead.evaluate.batch_size
    if images is not None:
        x_fid, source = _image_tensor(images, transform, n_fid).to(device), f"{len(images)} images from {opts.data}"
    else:
        g = torch.Generator().manual_seed(opts.seed)
        x_fid = torch.randn(n_fid, *shape, generator=g).to(device)
        source = f"seeded random N(0,1) inputs (seed {opts.seed})"
    say(f"fidelity vs fp32 on {x_fid.shape[0]} inputs ({source})")
    ref = batched_logits(model, x_fid, eval_batch)
    fid = {name: compare_logits(ref, batched_logits(fn, x_fid, eval_batch)) for name, fn in fns.items()}

    acc = None
    if images is not None and images.labeled:
        say(f"accuracy on {len(images)} labeled images ({images.layout})")
        acc = accuracy_of(fns, images, transform, eval_batch)

    warmup = max(r.benchmark.warmup for r in recipes)
    iters = max(r.benchmark.iters for r in recipes)
    timings, peaks = {}, {}
    with _locked(opts.bench_lock, say):
        for b in batch_sizes:
            say(f"timing batch {b}: {len(fns)} models interleaved, {warmup} warmup + {iters} iterations")
            x = torch.randn(b, *shape).to(device)
            t = measure_interleaved({n: (lambda fn=fn, x=x: fn(x)) for n, fn in fns.items()}, warmup, iters, device)
            for name in fns:
                timings[(name, b)] = t[name]
                peaks[(name, b)] = _tensor_peak(name, recipes, fns[name], x, device)
    rows = _rows(recipes, fns, prepared, timings, first, fid, acc, peaks, state_dict_bytes(model))
    table = pd.DataFrame(rows)
    warnings = [f"{r['recipe']} at batch {r['batch']}: {r['flag']}" for r in rows if r["flag"]]
    inputs = {
        "model": lead.model.name, "img_size": img, "weights": opts.weights, "device": str(device),
        "data": opts.data, "data_layout": images.layout if images else None, "images": len(images) if images else 0,
        "fidelity_inputs": source, "fidelity_samples": int(x_fid.shape[0]), "eval_batch_size": eval_batch,
        "batch_sizes": batch_sizes, "warmup": warmup, "iters": iters, "seed": opts.seed,
        "preprocessing": transform.describe(),
    }  # fmt: skip
    return RunResult(recipes, table, fid, acc, prepared, inputs, warnings)
