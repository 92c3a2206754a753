"""The selfcheck paths at small size: every user-facing command once, key figure read from its json output.

Sizes are the smallest that still exercise every code path. The model is swin_t's (Swin v2's for the memory
options) shrunk through the commands' own `--model-config`: four stages of 1 block each but a regular and a
shifted block in stage 0, embed dim 32 (`TINY`). Attention and memory run at 64x64 (stage maps 16/8/4/2: padded,
shifted and clamped windows), the recipes, export and sensitivity at 32x32; profile (no --model-config) runs
the full swin_t at 64x64; bench runs the tiny CI suite with 10 rounds. The graph every compile sees is 5 blocks
instead of 12: on 2 cores the cold inductor compiles were most of a quick run's time.
"""

from __future__ import annotations

import functools
import math
import re
import socket
from pathlib import Path

from swinprof.models.attention import available_attention
from swinprof.selfcheck.context import Completed, Context
from swinprof.selfcheck.reading import cell, find_row, find_table, fmt, number, tables
from swinprof.selfcheck.registry import DEVICES, Result, needs_capability, needs_module, not_on, register

MODEL = "swin_t"
ATTN_RES = 64
RECIPE_RES = 32
MEMORY_MODEL = "swinv2_t_w8"  # the memory options are Swin v2's
# Loose bounds on the max abs error vs `reference` (logits and input gradient, O(1) values): they catch a
# broken kernel or a NaN, not rounding (bf16 sdpa/fused differ by ~1e-2 on CPU from summation order alone).
ERROR_BOUND = {"fp32": 1e-3, "fp16": 0.1, "bf16": 0.5}
FLEX_CPU = "FlexAttention has no backward on CPU (torch limitation); its forward: 'attention flex fp32 forward'"
SLOW_CPU = {"cpu": 1500.0, "cuda": 300.0}  # a cold inductor compile of the 12-block graph on 2 shared cores
# CUDA limits: about twice each path's time on the H200 runs (docs/gpu-selfcheck-plan.md has the table), so a
# path that hangs costs minutes of a short GPU lease at most, not the whole budget.
ATTENTION_LIMITS = {"cpu": 300.0, "cuda": 150.0}
MEMORY_LIMITS = {"cpu": 300.0, "cuda": 150.0}
QUICK_LIMITS = {"cpu": 300.0, "cuda": 60.0}  # profile, ZeRO-1, bench, regress: 10-16 s on the H200
# depths 2,1,1,1: stage 0 keeps a shifted block (and padded windows at 32x32); heads give head dim 32.
TINY = {"embed_dim": "32", "depths": "2,1,1,1", "num_heads": "1,2,4,8"}
PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parent  # a checkout: the committed CPU baseline of the tiny suite lives in its reports/


def _device_args(ctx: Context) -> list[str]:
    return ["--device", ctx.device]


def _tiny() -> list[str]:
    """`--model-config` arguments of the shrunk model (`TINY`)."""
    return [arg for key, value in TINY.items() for arg in ("--model-config", f"{key}={value}")]


# ------------------------------------------------------------------------------------------------ profile


@register("profile", limit_s=QUICK_LIMITS)
def profile(ctx: Context) -> Result:
    """`swinprof profile`: every table, with per-stage timing and memory."""
    run = ctx.cli("profile", MODEL, "--res", ATTN_RES, "--iters", 2, "--warmup", 0, *_device_args(ctx),
                  "--format", "json", "--quiet")  # fmt: skip
    info = find_table(run.docs, "model_info", "model info").rows[0]
    total = find_row(find_table(run.docs, "stages"), "stage", "total")
    gmacs, ms = number(info, "GMACs (1 img)", "GMACs"), number(total, "median (ms)")
    peak = number(total, "tensor peak (MiB)", "CUDA peak (MB)", "peak (MB)")
    count = len(tables(run.docs))
    figure = (f"{fmt(gmacs, '.3f', 'GMACs (1 img)')} GMACs, forward {fmt(ms, '.1f', 'median (ms)')} ms, "
              f"peak {fmt(peak, '.2f', 'tensor peak (MiB)')} MiB, {count} tables")  # fmt: skip
    return Result(figure, {"gmacs": gmacs, "median_ms": ms, "peak_mb": peak, "tables": count})


# ---------------------------------------------------------------------------------------------- attention


def _attention_run(ctx: Context, dtype: str, backward: bool):
    # Backward: every implementation in one run (flex only where it has a backward); forward: flex alone.
    impls = [i for i in available_attention() if not (ctx.device == "cpu" and i == "flex")] if backward else ["flex"]
    args = ["attention", MODEL, "--res", ATTN_RES, "--batch", 2, "--dtype", dtype, "--impl", ",".join(impls),
            "--iters", 1, "--warmup", 0, "--block-iters", 1, *_device_args(ctx), *_tiny(),
            "--format", "json"]  # fmt: skip
    if backward:
        args.append("--backward")
    return ctx.cached(f"attention {dtype} {backward}", lambda: ctx.cli(*args))


def _checked_error(row: dict, column: str, dtype: str) -> float | None:
    """The error in `column`, or an exception when it is NaN or beyond the dtype's loose bound."""
    value = number(row, column)
    if value is not None and not (math.isfinite(value) and value <= ERROR_BOUND[dtype]):
        raise AssertionError(f"{column} = {value:.3g} vs reference, beyond the {dtype} bound {ERROR_BOUND[dtype]}")
    return value


def attention(ctx: Context, impl: str, dtype: str, backward: bool = True) -> Result:
    """One implementation's forward (+ backward) error vs `reference`, from one shared `swinprof attention` run."""
    run = _attention_run(ctx, dtype, backward)
    row = find_row(find_table(run.docs, "impls", "implementation"), "impl", impl)
    status = str(cell(row, "status") or "?")
    if status != "ok":
        raise RuntimeError(f"swinprof attention reports {impl} {dtype}: {status}")
    logits = _checked_error(row, "max abs err (logits)", dtype)
    grad = _checked_error(row, "max abs err (input grad)", dtype) if backward else None
    ms, speedup = number(row, "model ms (median)"), number(row, "speedup vs reference")
    parts = [f"logits err {fmt(logits, '.1e', 'max abs err (logits)')}"]
    if backward:
        parts.append(f"input-grad err {fmt(grad, '.1e', 'max abs err (input grad)')}")
    parts.append(f"{'fwd+bwd' if backward else 'fwd'} {fmt(ms, '.1f', 'model ms (median)')} ms "
                 f"({fmt(speedup, '.2f', 'speedup vs reference')}x vs reference)")  # fmt: skip
    return Result(", ".join(parts), {"logits_err": logits, "grad_err": grad, "ms": ms, "speedup": speedup})


def _register_attention() -> None:
    for dtype, devices in (("fp32", DEVICES), ("bf16", ("cuda",)), ("fp16", ("cuda",))):
        for impl in available_attention():
            requires = (not_on("cpu", FLEX_CPU),) if impl == "flex" else ()
            fn = functools.partial(attention, impl=impl, dtype=dtype)
            what = f"`swinprof attention --backward --dtype {dtype}`: {impl} logits and input-grad error vs reference"
            limits = ATTENTION_LIMITS
            register(f"attention {impl} {dtype}", devices, requires, limits, what=what, shares=f"attention {dtype}")(fn)
    covered = not_on("cuda", "covered on CUDA by 'attention flex fp32' (forward + backward)")
    fn = functools.partial(attention, impl="flex", dtype="fp32", backward=False)
    what = "`swinprof attention --impl flex`: forward error vs reference (compiled FlexAttention)"
    register("attention flex fp32 forward", DEVICES, (covered,), limit_s=SLOW_CPU, what=what)(fn)


_register_attention()

# ------------------------------------------------------------------------------------------------- memory


def _memory_run(ctx: Context):
    args = ["memory", MEMORY_MODEL, "--res", 64, "--batch", 2, "--checkpoint", "all,block", "--seq-attn",
            "chunks=2", "--iters", 1, "--warmup", 0, *_device_args(ctx), *_tiny(), "--format", "json"]  # fmt: skip
    return ctx.cached("memory", lambda: ctx.cli(*args))


@register("memory checkpointing", limit_s=MEMORY_LIMITS, shares="memory")
def memory_checkpointing(ctx: Context) -> Result:
    """Activation checkpointing (every block) in one training step: activations vs the baseline."""
    rows = find_table(_memory_run(ctx).docs, "step", "training").rows
    row = next((r for r in rows if str(r.get("config", "")).startswith("checkpoint") and "+" not in r["config"]), None)
    if row is None:
        raise LookupError(f"no 'checkpoint ...' row among {[r.get('config') for r in rows]}")
    act, time_ratio = number(row, "activations vs baseline"), number(row, "time vs baseline")
    if act is not None and act >= 0.5:
        raise AssertionError(f"checkpointing kept {act:.2f} of the activations (expected well under half)")
    figure = (f"activations {fmt(act, '.3f', 'activations vs baseline')} of baseline, step time "
              f"{fmt(time_ratio, '.2f', 'time vs baseline')}x")  # fmt: skip
    return Result(figure, {"activations_ratio": act, "time_ratio": time_ratio})


@register("memory sequential attention", limit_s=MEMORY_LIMITS, shares="memory")
def memory_sequential(ctx: Context) -> Result:
    """Sequential attention (2 chunks): the attention-score peak of one block shrinks by about the chunk count."""
    view = find_table(_memory_run(ctx).docs, "sequential attention")
    row = find_row(view, "attention", "sequential")
    measured, expected = number(row, "scores factor (measured)"), number(row, "scores factor (expected)")
    if measured is not None and measured <= 1.0:
        raise AssertionError(f"sequential attention did not shrink the score peak (factor {measured:.2f})")
    figure = f"score peak / {fmt(measured, '.2f', 'scores factor (measured)')} (expected / {fmt(expected, '.0f', '')})"
    return Result(figure, {"scores_factor": measured, "expected": expected})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@register("memory zero-1", limit_s=QUICK_LIMITS)
def memory_zero(ctx: Context) -> Result:
    """ZeRO-1 on a one-process group (gloo on CPU, NCCL on CUDA), with the variables torchrun would set."""
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}  # fmt: skip
    run = ctx.cli("memory", MEMORY_MODEL, "--res", 64, "--batch", 2, "--zero", 1, "--iters", 1, "--warmup", 0,
                  *_device_args(ctx), *_tiny(), "--format", "json", env=env)  # fmt: skip
    row = find_row(find_table(run.docs, "zero"), "optimizer", "DDP + ZeRO-1")
    state, world = number(row, "optimizer state (MiB)"), number(row, "world size")
    backend = "nccl" if ctx.device == "cuda" else "gloo"
    figure = (f"{backend}, world size {fmt(world, '.0f', 'world size')}, optimizer state "
              f"{fmt(state, '.1f', 'optimizer state (MiB)')} MiB")  # fmt: skip
    return Result(figure, {"state_mib": state, "world": world, "backend": backend})


@register("evaluate sharded", limit_s=QUICK_LIMITS)
def evaluate_sharded(ctx: Context) -> Result:
    """`swinprof run --data` in a one-rank torchrun group (gloo on CPU, NCCL on CUDA: its object gathers run
    through the backend) over generated ImageNet-like JPEGs in the flat layout with their labels file, decoded
    by 2 data-loader workers (pinned memory and non-blocking copies on CUDA)."""
    images = ctx.path("images")
    ctx.cli("make-images", "-o", images, "--count", 64, "--layout", "flat", "--quiet")
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}  # fmt: skip
    run = ctx.cli("run", "fp32-eager", "--model", MODEL, "--res", RECIPE_RES, "--data", images / "val", "--labels",
                  images / "LOC_val_solution.csv", "--workers", 2, "--eval-batch", 16, "--batch-sizes", 1,
                  "--iters", 2, "--warmup", 1, "--no-process-memory", *_device_args(ctx), *_tiny(), "--quiet",
                  "--format", "json", env=env)  # fmt: skip
    row = find_table(run.docs, "evaluation").rows[0]
    rate, models, data = number(row, "img/s"), number(row, "models img/s"), number(row, "data pipeline img/s")
    figure = (f"{cell(row, 'processes')}: {fmt(number(row, 'images'), '.0f', 'images')} images, "
              f"{fmt(rate, '.0f', 'img/s')} img/s (models {fmt(models, '.0f', 'models img/s')}, data pipeline "
              f"{fmt(data, '.0f', 'data pipeline img/s')}), bound by {cell(row, 'bound by')}")  # fmt: skip
    return Result(figure, {"img_per_s": rate, "models_img_per_s": models, "data_img_per_s": data,
                           "processes": cell(row, "processes"), "bound": cell(row, "bound by")})  # fmt: skip


# ------------------------------------------------------------------------------------------------ recipes


def recipe(ctx: Context, name: str, cpu_target: bool = False) -> Result:
    """`swinprof run NAME` vs fp32 eager: speedup, SQNR, first-call (compile) time."""
    batch = "1" if ctx.device == "cpu" else "8"
    args = ["run", name, "--model", MODEL, "--res", RECIPE_RES, "--batch-sizes", batch, "--eval-batch", batch,
            "--fidelity-samples", 2 if ctx.device == "cpu" else 8, "--iters", 2, "--warmup", 1,
            "-o", ctx.path(f"run-{name}"), *_tiny(), "--format", "json"]  # fmt: skip
    if not cpu_target:
        args += _device_args(ctx)
    if (ctx.quick and name in PREPARED_AGAIN_IN_FRESH_PROCESS) or (ctx.device == "cuda" and _autotuned(name)):
        args.append("--no-process-memory")
    run = ctx.cli(*args)
    row = find_row(find_table(run.docs, "comparison"), "recipe", name)
    fidelity = find_row(find_table(run.docs, "fidelity"), "recipe", name)
    speedup, sqnr, first = number(row, "speedup vs fp32"), number(fidelity, "SQNR dB"), number(row, "first call s")
    if sqnr is not None and math.isnan(sqnr):
        raise AssertionError(f"{name}: SQNR is NaN (the optimized model's output is not finite)")
    figure = (f"{fmt(speedup, '.2f', 'speedup vs fp32')}x vs fp32 eager, SQNR {fmt(sqnr, '.1f', 'SQNR dB')} dB, "
              f"first call {fmt(first, '.1f', 'first call s')} s")  # fmt: skip
    return Result(figure, {"speedup": speedup, "sqnr_db": sqnr, "first_call_s": first, "flag": cell(row, "flag")})


# The process-peak meter runs each recipe again in a fresh process, which for these means a second cold inductor
# compile or ONNX export (tens of seconds on a 2-core CPU); with --quick the meter is exercised by the torchao
# recipes instead.
PREPARED_AGAIN_IN_FRESH_PROCESS = frozenset({"compile-inductor", "int8-x86-cpu", "onnx-ort-int8", "openvino-int8"})


def _autotuned(name: str) -> bool:
    """Whether the preset compiles with GEMM autotuning: minutes per compile, so on CUDA its process peak (a
    second compile in a fresh process) is left to the int8 torchao recipes, which exercise the same meter."""
    from swinprof.optimize.presets import get_recipe

    return get_recipe(name).compile.mode.startswith("max-autotune")


TRT = needs_module("torch_tensorrt", "torch_tensorrt not installed")


def _ort_gpu_provider(_device: str) -> str | None:
    """Met when ONNX Runtime (installed: the requirement before this one) has its TensorRT or CUDA execution
    provider; else the runtime's own line naming what is missing."""
    from swinprof.optimize.ort_gpu import missing_provider

    return missing_provider()


RECIPES = (  # name, devices, requirements, CPU-target recipe (run as it is on a GPU machine too), limit
    ("int8-weight-only", DEVICES, (), False, {"cpu": 300.0, "cuda": 90.0}),
    ("int8-dynamic", DEVICES, (), False, {"cpu": 300.0, "cuda": 90.0}),
    ("onnx-ort-int8", DEVICES, (needs_module("onnxruntime"),), True, {"cpu": 300.0, "cuda": 150.0}),
    ("fp8-dynamic", ("cuda",), (needs_capability(8, 9),), False, 300.0),
    ("tensorrt-fp16", ("cuda",), (TRT,), False, 300.0),
    ("trt-int8-ort-gpu", ("cuda",), (needs_module("onnxruntime"), _ort_gpu_provider), False, 300.0),
    ("edge-orin-int8", ("cuda",), (TRT, needs_module("modelopt", "nvidia-modelopt not installed")), False, 300.0),
    ("compile-inductor", DEVICES, (), False, {"cpu": 1500.0, "cuda": 200.0}),
    ("int8-x86-cpu", DEVICES, (not_on("cuda", "x86 CPU recipe (PT2E + X86InductorQuantizer)"),), True, SLOW_CPU),
    ("openvino-int8", ("cpu",), (needs_module("openvino"), needs_module("nncf")), True, 300.0),
    (
        "compile-inductor-max-autotune",
        DEVICES,
        (not_on("cpu", "CPU autotuning of every GEMM takes too long for a selfcheck; run it by hand"),),
        False,
        300.0,
    ),
)
for _name, _devices, _requires, _cpu_target, _limit in RECIPES:
    _what = f"`swinprof run {_name}` vs fp32 eager: speedup, SQNR, first-call time"
    register(f"recipe {_name}", _devices, _requires, limit_s=_limit, what=_what)(
        functools.partial(recipe, name=_name, cpu_target=_cpu_target)
    )


@register("sensitivity int8-x86-cpu", limit_s={"cpu": 600.0, "cuda": 240.0})
def sensitivity(ctx: Context) -> Result:
    """`swinprof sensitivity --recipe int8-x86-cpu --group stage`: every stage scored quantized alone."""
    run = ctx.cli("sensitivity", MODEL, "--recipe", "int8-x86-cpu", "--res", RECIPE_RES, "--group", "stage",
                  "--samples", 2, "--calib-count", 2, *_tiny(), "--format", "json")  # fmt: skip
    rows = find_table(run.docs, "sensitivity").rows
    if not rows:
        raise LookupError("the sensitivity table has no rows")
    worst = rows[0]
    group, sqnr = str(cell(worst, "group")), number(worst, "sqnr_db")
    layers = sum(int(number(r, "layers") or 0) for r in rows)
    figure = f"{len(rows)} groups, {layers} layers; most sensitive {group} ({fmt(sqnr, '.1f', 'sqnr_db')} dB alone)"
    return Result(figure, {"groups": len(rows), "layers": layers, "most_sensitive": group, "sqnr_db": sqnr})


# ------------------------------------------------------------------------------------------- export, bench


@register("export onnx", requires=(needs_module("onnxruntime"),), limit_s={"cpu": 300.0, "cuda": 120.0})
def export_onnx(ctx: Context) -> Result:
    """`swinprof export onnx` with a dynamic batch: ONNX Runtime parity at batch 1 and 2."""
    out = ctx.path(f"{MODEL}.onnx")
    run = ctx.cli("export", "onnx", MODEL, "--res", RECIPE_RES, "--dynamic-batch", "-o", out, *_tiny(),
                  "--report-format", "json")  # fmt: skip
    rows = find_table(run.docs, "parity").rows
    errors = {int(number(r, "batch")): number(r, "max abs diff vs PyTorch") for r in rows}
    if sorted(errors) != [1, 2] or None in errors.values():
        raise LookupError(f"expected ONNX Runtime parity at batches 1 and 2, the export reported {errors}")
    worst = max(errors.values())
    if not worst < 1e-3:
        raise AssertionError(f"ONNX Runtime differs from PyTorch by {worst:.2e} (fp32 export; expected < 1e-4)")
    size = out.stat().st_size / 2**20
    return Result(f"ORT parity max abs err {worst:.1e} (batches {sorted(errors)}), {size:.1f} MiB",
                  {"max_abs_err": worst, "size_mib": size})  # fmt: skip


def _suite(ctx: Context) -> Path:
    """The tiny CI suite; on CUDA a copy that says so (CPU time is not a metric there)."""
    suite = PACKAGE / "recipes" / "suites" / "ci-bench-tiny.toml"  # in the checkout and in the wheel
    if not suite.exists():
        raise FileNotFoundError(f"{suite} is missing: reinstall swinprof or run from a checkout")
    if ctx.device == "cpu":
        return suite
    text, n = re.subn(r'(?m)^device\s*=\s*"cpu"', 'device = "cuda"', suite.read_text())
    text, m = re.subn(r'(?m)^metric\s*=\s*"cpu"', 'metric = "wall"', text)
    if n != 1 or m != 1:
        raise ValueError(f'{suite}: expected one device = "cpu" and one metric = "cpu" line to turn into CUDA')
    derived = ctx.path("ci-bench-tiny-cuda.toml")
    derived.write_text(text)
    return derived


def _bench(ctx: Context) -> tuple[Path, Completed]:
    """One bench run shared by the bench and regress rows: (results file, the command's output)."""

    def make() -> tuple[Path, Completed]:
        out = ctx.path("bench.json")
        run = ctx.cli("bench", _suite(ctx), "-o", out, "--samples", 10, "--warmup", 1, "--processes", 1,
                      "--format", "json")  # fmt: skip
        return out, run

    return ctx.cached("bench", make)


@register("bench tiny suite", limit_s=QUICK_LIMITS, shares="bench")
def bench(ctx: Context) -> Result:
    """`swinprof bench` on the tiny CI suite, 10 rounds in one worker process: median ms per case."""
    _, run = _bench(ctx)
    rows = find_table(run.docs, "cases", "per case").rows
    medians = {str(cell(r, "case")): number(r, "median ms") for r in rows}
    if not medians:
        raise LookupError("the bench summary has no case rows")
    cases = sum(":" in c for c in medians)  # `suite-case:model/res/...`; the calibration workload is listed too
    text = ", ".join(f"{c.split(':')[-1].split('/')[0]} {fmt(v, '.1f', 'median ms')} ms" for c, v in medians.items())
    return Result(f"{cases} cases timed: {text}", {"median_ms": medians})


@register("regress tiny suite", limit_s=QUICK_LIMITS, shares="bench")
def regress(ctx: Context) -> Result:
    """`swinprof regress` of that run against the committed CPU baseline (on CUDA: against itself)."""
    current, _ = _bench(ctx)
    baseline = REPO / "reports" / "baseline-ci-tiny.json"
    against = baseline if ctx.device == "cpu" and baseline.exists() else current
    run = ctx.cli("regress", against, current, "--report-only", "--format", "json")
    rows = find_table(run.docs, "cases").rows
    verdicts = [str(cell(r, "verdict")) for r in rows]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))
    which = "committed baseline" if against == baseline else "itself"
    return Result(f"vs {which}: {counts or 'no cases'} (report-only)", {"verdicts": verdicts})
