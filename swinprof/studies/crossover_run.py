"""Measure the crossover map: every recipe prepared once, then timed interleaved with the baseline at each batch.

The preparation is the recipe run's (`optimize.prepare.prepare` on one fp32 model, seeded random calibration);
the timing is the run's harness and settle rule (`measure.timing.measure_interleaved`, `settle_ms`). Batches go
up the ladder planned against the memory available when the run started (`crossover.plan_ladder`); an
allocation failure the estimate did not foresee also ends the ladder there, keeping what was measured. The
baseline is fp32 eager PyTorch on CPU and bf16 eager on CUDA (what a GPU user compares against).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from swinprof.errors import RecipeError, is_out_of_memory
from swinprof.measure.peaks import Ceiling, bandwidth_ceiling, compute_ceiling
from swinprof.measure.timing import measure_interleaved, time_once
from swinprof.optimize.prepare import prepare
from swinprof.optimize.recipe import Recipe, parse_recipe, to_dict
from swinprof.studies.calibration import calibration_batches
from swinprof.studies.crossover import Gemm, Ladder, check_iters, plan_ladder
from swinprof.studies.recipe_prepare import BASELINE, is_baseline
from swinprof.studies.recipe_timing import settle_ms

GPU_BASELINE = "bf16-eager"
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass
class CrossoverOptions:
    """What to measure. `need_bytes(batch)`: estimated memory of the whole request at that batch;
    `available_bytes`: what the device had when the run started (None: unknown, the ladder is not cut)."""

    batches: tuple[int, ...]
    warmup: int = 3
    iters: int = 20
    seed: int = 0
    model_config: dict = field(default_factory=dict)
    need_bytes: Callable[[int], int] | None = None
    available_bytes: int | None = None


@dataclass
class CrossoverResult:
    """Latency samples per (model, batch) in ms, `models` in timing order (the baseline first)."""

    model: str
    img_size: int
    device: str
    baseline: str
    models: list[str]
    recipes: dict[str, Recipe]
    samples: dict[tuple[str, int], list[float]]
    first_call_s: dict[tuple[str, int], float]
    prepare_s: dict[str, float]
    planned: Ladder
    measured: list[int]
    stop: str | None
    gemms: list[Gemm]
    warmup: int
    iters: int
    settle_ms: float
    compute: Ceiling
    bandwidth: Ceiling
    compile_problems: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # recipe -> where and why it left the ladder


def baseline_recipe(lead: Recipe) -> Recipe:
    """fp32 eager on CPU, bf16 eager on CUDA: same model and device as `lead`."""
    model = {k: v for k, v in to_dict(lead.model).items() if v is not None}
    cuda = lead.target.device == "cuda"
    target = {"device": lead.target.device, "precision": "bf16" if cuda else "fp32"}
    return parse_recipe({"meta": {"name": GPU_BASELINE if cuda else BASELINE}, "model": model, "target": target})


def same_as_baseline(r: Recipe, base: Recipe) -> bool:
    """Whether `r` runs exactly what the baseline runs (it is then the baseline, not a line of its own)."""
    if r.target.device == "cpu":
        return is_baseline(r)
    return (r.quantize.method, r.compile.backend, r.target.runtime, r.target.precision) == (
        "none", "none", "pytorch", base.target.precision,
    )  # fmt: skip


def check_crossover_recipes(recipes: list[Recipe]) -> None:
    """What the crossover cannot do, refused before any work (it has no image folder and no budget search)."""
    for r in recipes:
        if r.quantize.budget.metric != "none":
            raise RecipeError(f"recipe {r.name!r} has an accuracy budget: run `swinprof run` first and map its "
                              "resolved recipe (record folder, resolved/*.toml)")  # fmt: skip


def operand_bytes(r: Recipe) -> tuple[float, float, float]:
    """(activation, weight, output) bytes per element of `r`'s Linear GEMMs, from the method's registered widths
    (`MethodSpec.weight_bits` / `activation_bits`) and the target precision."""
    floating = _BYTES[r.target.precision]
    spec = r.method
    act = spec.activation_bits / 8 if spec.activation_bits else floating
    weight = spec.weight_bits / 8 if spec.weight_bits else floating
    return act, weight, floating


def linear_gemms(model: torch.nn.Module) -> list[Gemm]:
    """Every Linear layer's GEMM at batch 1, from the cost counter on a meta-device copy of `model`'s config."""
    from swinprof.models.swin import SwinTransformer
    from swinprof.profile.macs import count_costs

    cfg = model.config
    with torch.device("meta"):
        meta = SwinTransformer(cfg, "reference").to("meta").eval()
    side = cfg.img_size
    trace = count_costs(meta, torch.empty(1, cfg.in_chans, side, side, device="meta"))
    linears = {n: m for n, m in meta.named_modules() if isinstance(m, torch.nn.Linear)}
    rows = trace.records[trace.records["module"].isin(linears.keys()) & (trace.records["macs"] > 0)]
    out = []
    for name, macs in zip(rows["module"], rows["macs"]):
        layer = linears[name]
        out.append(Gemm(int(macs) // (layer.in_features * layer.out_features), layer.in_features,
                        layer.out_features))  # fmt: skip
    return out


def machine_ceilings(device: torch.device) -> tuple[Ceiling, Ceiling]:
    """The compute ceiling in the baseline's dtype (fp32 on CPU, bf16 on CUDA) and the bandwidth ceiling."""
    return compute_ceiling(device, torch.bfloat16 if device.type == "cuda" else torch.float32), bandwidth_ceiling(
        device
    )


@contextlib.contextmanager
def _recompile_room(graphs: int):
    """Let dynamo compile one graph per (compiled model, batch) without falling back to eager at its limit."""
    import torch._dynamo

    with torch._dynamo.config.patch(recompile_limit=max(torch._dynamo.config.recompile_limit, graphs)):
        yield


def _prepare_models(recipes: list[Recipe], base: Recipe, model, workdir: Path, seed: int, say):
    """name -> callable `(B, 3, H, W) fp32 -> logits` (the baseline first), name -> seconds to prepare, and
    name -> the torch.compile wrapper of the models that compile."""
    shape = (model.config.in_chans, model.config.img_size, model.config.img_size)
    device = next(model.parameters()).device
    fns, seconds, compiled = {}, {}, {}
    for i, r in enumerate([base, *recipes], 1):
        if r.target.device == "cpu" and is_baseline(r):
            fns[r.name], seconds[r.name] = model, 0.0
            continue
        say(f"preparing {i}/{len(recipes) + 1} {r.name}: {r.meta.description or r.method.summary}")
        p = prepare(r, model, calibration_batches(r, None, None, shape, device, seed), workdir)  # speed only: random
        fns[r.name], seconds[r.name] = p.fn, p.prepare_s
        if p.compiled is not None:
            compiled[r.name] = p.compiled
    return fns, seconds, compiled


def _time_batch(fns: dict, batch: int, shape, device, opts: CrossoverOptions, settle: float, failed: dict):
    """(samples ms per model, first-call seconds per model) at one batch; the first call (a compile where there
    is one) is made and timed apart, so no compile lands in the warm-up or the samples. A recipe whose first call
    raises (anything but running out of memory) goes into `failed` (name -> one line) and out of `fns`: one
    recipe that cannot compile at some batch must not cost a GPU lease the whole map. The baseline's failure
    ends the map."""
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(opts.seed + batch)).to(device)
    first = {}
    with torch.inference_mode():
        for i, (name, fn) in enumerate(list(fns.items())):
            try:
                first[name] = time_once(lambda fn=fn: fn(x), device) / 1e3
            except Exception as exc:
                if i == 0 or is_out_of_memory(exc):
                    raise
                line = (str(exc).strip().splitlines() or [""])[0][:200]
                failed[name] = f"failed at batch {batch} (first call): {type(exc).__name__}: {line}"
                del fns[name]
    calls = {n: (lambda fn=fn: fn(x)) for n, fn in fns.items()}
    timings = measure_interleaved(calls, opts.warmup, opts.iters, device, settle_ms=settle)
    return {n: t.samples_ms for n, t in timings.items()}, first


def work_line(models: int, ladder: Ladder, opts: CrossoverOptions) -> str:
    """The total work of a map, said before it starts (a long CPU map runs for many minutes)."""
    calls = 1 + opts.warmup + opts.iters
    images = sum(ladder.batches) * calls * models
    return (f"{models} models x {len(ladder.batches)} batches {list(ladder.batches)} = "
            f"{models * len(ladder.batches)} timed points, {calls} calls each (1 first + {opts.warmup} warm-up + "
            f"{opts.iters} timed): {images:,} images through the models in all")  # fmt: skip


def run_crossover(recipes: list[Recipe], opts: CrossoverOptions, workdir: Path,
                  on_event: Callable[[str], None] | None = None) -> CrossoverResult:  # fmt: skip
    """The crossover map of `recipes` (already `resolve`d: one model, one device) over `opts.batches`."""
    from swinprof.models import create_model

    say = on_event or (lambda _m: None)
    check_iters(opts.iters)
    check_crossover_recipes(recipes)
    lead = recipes[0]
    base = baseline_recipe(lead)
    recipes = [r for r in recipes if not same_as_baseline(r, base)]
    if not recipes:
        raise RecipeError(f"every recipe given is the baseline ({base.name}): add recipes to compare with it")
    ladder = plan_ladder(opts.batches, opts.need_bytes or (lambda _b: 0), opts.available_bytes,
                         f"{lead.target.device} memory")  # fmt: skip
    device = torch.device(lead.target.device)
    say(f"crossover {lead.model.name}: {work_line(len(recipes) + 1, ladder, opts)}")
    if ladder.stop:
        say(ladder.stop)
    torch.manual_seed(opts.seed)
    model = create_model(lead.model.name, img_size=lead.model.img_size, attn_impl=lead.model.attn_impl,
                         **opts.model_config).eval().to(device)  # fmt: skip
    shape = (model.config.in_chans, model.config.img_size, model.config.img_size)
    workdir.mkdir(parents=True, exist_ok=True)
    fns, prepare_s, compiled = _prepare_models(recipes, base, model, workdir, opts.seed, say)
    settle = settle_ms([base, *recipes], device)
    samples, first, measured, stop, failed = {}, {}, [], ladder.stop, {}
    models = list(fns)
    with _recompile_room((len(fns) + 1) * (len(ladder.batches) + 1)):
        for i, b in enumerate(ladder.batches, 1):
            say(f"batch {b} ({i}/{len(ladder.batches)}): {len(fns)} models interleaved, {opts.warmup} warm-up + "
                f"{opts.iters} timed calls each")  # fmt: skip
            try:
                got, firsts = _time_batch(fns, b, shape, device, opts, settle, failed)
            except (MemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                stop = f"stopped at batch {b}: ran out of memory there (the estimate did not foresee it)"
                say(stop)
                break
            samples.update({(n, b): s for n, s in got.items()})
            first.update({(n, b): s for n, s in firsts.items()})
            measured.append(b)
    say("machine ceilings for the roofline context (cached per machine after the first quiet probe)")
    compute, bandwidth = machine_ceilings(device)
    problems = [f"{n} (torch.compile): {line}" for n, c in compiled.items() for line in c.stats().problems()]
    return CrossoverResult(lead.model.name, model.config.img_size, device.type, base.name, models,
                           {r.name: r for r in [base, *recipes]}, samples, first, prepare_s, ladder, measured, stop,
                           linear_gemms(model), opts.warmup, opts.iters, settle, compute, bandwidth,
                           problems, failed)  # fmt: skip
