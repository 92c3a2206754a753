"""The full-size headline numbers on one GPU (`swinprof selfcheck --device cuda`, without --quick).

swin_s at 224, bf16, batch 64: throughput eager vs torch.compile vs timm's swin_small_patch4_window7_224
(random weights, the same input); the attention implementations at batch 64; torchao fp8 / int8 vs bf16
latency and SQNR. Budgeted for well under 8 minutes on one H100: few iterations (3 warm-up, 10 timed, CUDA
events through `swinprof.measure.timing`), one compile per model. The measurement functions run in a fresh
process (`Context.call`) wrapped by `guarded`, so a failure comes back with its whole traceback.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from swinprof.errors import SwinprofError
from swinprof.selfcheck.context import Context
from swinprof.selfcheck.reading import cell, find_table, fmt, number
from swinprof.selfcheck.registry import Result, needs_capability, needs_module, register

VARIANT, RES, BATCH = "swin_s", 224, 64
TIMM_NAME = "swin_small_patch4_window7_224"
WARMUP, ITERS = 3, 10
# Per row on CUDA, about twice the H200 time (throughput 48 s, attention 26 s; the torchao rows never completed
# there: planned from one bf16 + one quantized compile of swin_s each; see docs/gpu-selfcheck-plan.md). They run
# alone, one after another, before everything else: their sum bounds what is left for the small paths.
LIMITS = {"cpu": 60.0, "cuda": 90.0}
ATTENTION_LIMITS = {"cpu": 60.0, "cuda": 60.0}
QUANTIZED_LIMITS = {"int8-weight-only": 100.0, "int8-dynamic": 100.0, "fp8-dynamic": 120.0}
_STARTED = time.monotonic()


def guarded(target: str, **kwargs) -> object:
    """Call `target` ("module:function"); any failure becomes a SwinprofError whose first line is the error
    and whose remaining lines are the traceback (the runner splits them into its row and the json)."""
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)(**kwargs)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SwinprofError(f"{type(exc).__name__}: {first}\n{traceback.format_exc()}") from exc


def _bf16_model(size: dict, attn_impl: str = "reference"):
    import torch

    from swinprof.models import create_model

    torch.manual_seed(0)
    model = create_model(size["variant"], img_size=size["res"], attn_impl=attn_impl)
    return model.to(size["device"], torch.bfloat16).eval()


def _input(size: dict):
    import torch

    torch.manual_seed(1)
    return torch.randn(size["batch"], 3, size["res"], size["res"], device=size["device"], dtype=torch.bfloat16)


def _timed(fns: dict, size: dict) -> dict[str, float]:
    """Median ms per callable, interleaved (first calls, i.e. compiles, happen in the warm-up)."""
    from swinprof.measure.timing import measure_interleaved

    return {k: t.median for k, t in measure_interleaved(fns, size["warmup"], size["iters"], size["device"]).items()}


def _size(**overrides) -> dict:
    """The headline setting; tests shrink it (`device="cpu", variant="swin_t", res=32, batch=1`)."""
    size = dict(device="cuda", variant=VARIANT, res=RES, batch=BATCH, warmup=WARMUP, iters=ITERS)
    return {**size, **overrides}


def throughput(**overrides) -> dict:
    """img/s of swin_s bf16 batch 64: eager (reference, fused), compiled (reference), timm eager."""
    import torch

    size = _size(**overrides)
    x = _input(size)
    ours, fused = _bf16_model(size, "reference"), _bf16_model(size, "fused")
    compiled = torch.compile(ours)
    fns = {"eager": lambda: ours(x), "eager fused": lambda: fused(x), "compiled": lambda: compiled(x)}
    try:
        import timm
    except ImportError:
        timm = None
    if timm is not None:
        theirs = timm.create_model(TIMM_NAME, pretrained=False, img_size=size["res"])
        theirs = theirs.to(size["device"], torch.bfloat16).eval()
        fns["timm"] = lambda: theirs(x)
    ms = _timed(fns, size)
    return {k: {"ms": v, "img_per_s": size["batch"] / (v / 1e3)} for k, v in ms.items()}


def _say(message: str) -> None:
    """Progress on stderr: when a measurement runs past its limit, the selfcheck keeps what it had said."""
    print(f"[headline {time.monotonic() - _STARTED:.0f} s] {message}", file=sys.stderr, flush=True)


def quantized_vs_bf16(method: str, **overrides) -> dict:
    """Compiled torchao `method` vs compiled bf16 swin_s (batch 64): latency, and SQNR vs the bf16 eager logits.
    Each method runs in its own process (one slow compile cannot take the others' rows); the bf16 compile after
    the first comes from inductor's on-disk cache."""
    import torch

    from swinprof.evaluate.fidelity import compare_logits
    from swinprof.optimize.methods import MethodJob, apply_method
    from swinprof.optimize.recipe import DEFAULT_SKIP

    size = _size(**overrides)
    x = _input(size)
    base = _bf16_model(size)
    quantized = apply_method(method, MethodJob(base, base, skip=DEFAULT_SKIP))
    fast = {"bf16": torch.compile(base), method: torch.compile(quantized.work)}
    with torch.inference_mode():
        reference = base(x)
        for name, model in fast.items():
            _say(f"compiling {name}")
            model(x)
        _say("compiled; timing")
        fidelity = compare_logits(reference, fast[method](x))
    ms = _timed({k: (lambda m=m: m(x)) for k, m in fast.items()}, size)
    return {"ms": ms, "speedup": ms["bf16"] / ms[method], "sqnr_db": fidelity.sqnr_db,
            "linears": len(quantized.layers)}  # fmt: skip


def _call(ctx: Context, function: str, **kwargs):
    target = f"swinprof.selfcheck.headline:{function}"
    return ctx.call("swinprof.selfcheck.headline:guarded", {"target": target, **kwargs})


@register("headline swin_s bf16 throughput", devices=("cuda",), limit_s=LIMITS, full_only=True)
def headline_throughput(ctx: Context) -> Result:
    """swin_s 224 bf16 batch 64 img/s: eager, compiled and timm (when importable)."""
    got = _call(ctx, "throughput")
    eager = got["eager"]["img_per_s"]
    parts = [f"{k} {v['img_per_s']:.0f} img/s ({v['img_per_s'] / eager:.2f}x)" for k, v in got.items()]
    if "timm" not in got:
        parts.append("timm not importable")
    return Result(", ".join(parts), got)


@register("headline attention b64", devices=("cuda",), limit_s=ATTENTION_LIMITS, full_only=True)
def headline_attention(ctx: Context) -> Result:
    """`swinprof attention swin_s` at 224, batch 64, bf16: speedup of each implementation vs reference."""
    run = ctx.cli("attention", VARIANT, "--res", RES, "--batch", BATCH, "--dtype", "bf16", "--device", "cuda",
                  "--iters", 5, "--warmup", 1, "--block-iters", 3, "--format", "json")  # fmt: skip
    rows = find_table(run.docs, "impls", "implementation").rows
    parts, values = [], {}
    for row in rows:
        impl, status = str(cell(row, "impl")), str(cell(row, "status"))
        speedup = number(row, "speedup vs reference")
        values[impl] = {"status": status, "speedup": speedup, "ms": number(row, "model ms (median)")}
        ok = f"{impl} {fmt(speedup, '.2f', 'speedup vs reference')}x"
        parts.append(ok if status == "ok" else f"{impl}: {status}")
    return Result("bf16 fwd vs reference: " + ", ".join(parts), values)


# fp8 last: on the first GPU run (H200) fp8 was the small-size recipe still compiling after 130 s, where the
# int8 ones took 25 s; the headline rows run one after another, so a slow one only delays what comes after it.
QUANTIZED = (
    ("int8-weight-only", (needs_module("torchao"),)),
    ("int8-dynamic", (needs_module("torchao"),)),
    ("fp8-dynamic", (needs_capability(8, 9), needs_module("torchao"))),
)


def quantized(ctx: Context, method: str) -> Result:
    got = _call(ctx, "quantized_vs_bf16", method=method)
    ms = got["ms"]
    figure = (f"{ms[method]:.2f} ms vs bf16 {ms['bf16']:.2f} ms ({got['speedup']:.2f}x, both compiled), "
              f"SQNR {got['sqnr_db']:.1f} dB, {got['linears']} Linear layers")  # fmt: skip
    return Result(figure, got)


for _method, _requires in QUANTIZED:
    _what = f"torchao {_method} vs bf16, swin_s 224 batch 64, both compiled: latency and SQNR"
    _limits = {"cpu": LIMITS["cpu"], "cuda": QUANTIZED_LIMITS[_method]}
    register(f"headline {_method} vs bf16", ("cuda",), _requires, _limits, full_only=True, what=_what)(
        lambda ctx, m=_method: quantized(ctx, m)
    )
