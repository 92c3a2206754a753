"""Side-by-side comparison of the attention implementations on one model: error, latency, memory.

Every number for every implementation comes from the same model, input and process; latencies are
measured round-robin (`measure_interleaved`) so machine noise hits all implementations alike and the
speedups (reference median / implementation median) are honest ratios. An implementation that cannot
run here (its `check()` reason, or the exception it raises) gets a row with the reason instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch

from swinprof.errors import SwinprofError
from swinprof.measure.device import resolve_device, resolve_dtype
from swinprof.measure.environment import busy_warning, environment
from swinprof.measure.inputs import seeded_images
from swinprof.measure.memory import TENSOR_PEAK, forward_tensor_peak
from swinprof.measure.timing import measure_interleaved
from swinprof.models import create_model
from swinprof.models.attention import available_attention, get_attention, unavailable_reason
from swinprof.report.document import Report

# What the comparison exists for (README: "max error of the logits vs reference, ... whole-model ms, speedup vs
# reference, tensor peak MiB"), always on screen; the per-block times fold first on a narrow terminal.
HEADLINE = ("impl", "max abs err (logits)", "max abs err (input grad)", "model ms (median)", "speedup vs reference",
            "tensor peak (MiB)")  # fmt: skip


@dataclass
class AttentionComparison:
    """The comparison table plus what it was measured on."""

    table: pd.DataFrame
    settings: dict
    environment: dict
    notes: list[str] = field(default_factory=list)

    def report(self) -> Report:
        return attention_report([self])


def attention_report(comparisons: list[AttentionComparison]) -> Report:
    """One report for comparisons that differ only in batch size: one table per batch (`impls` for a single
    one, `impls_b<batch>` for several), in the order given."""
    first = comparisons[0].settings
    batches = [c.settings["batch"] for c in comparisons]
    mode = "forward + backward" if first["backward"] else "forward"
    title = (
        f"Attention implementations: {first['variant']} {first['res']}x{first['res']}, "
        f"batch {', '.join(map(str, batches))}, {first['device']}, {first['dtype']}, {mode}"
    )
    settings = dict(first, batch=batches[0] if len(batches) == 1 else batches)
    report = Report(title, environment=comparisons[0].environment, settings=settings)
    for c in comparisons:
        key, heading = ("impls", "Per implementation") if len(comparisons) == 1 else \
            (f"impls_b{c.settings['batch']}", f"Per implementation, batch {c.settings['batch']}")  # fmt: skip
        report.add(key, heading, c.table, c.notes, hidden=("tensor_peak_bytes",), essential=HEADLINE,
                   secondary=("status", "model ms (p90)"))  # fmt: skip
    report.warnings += busy_warning(comparisons[-1].environment, unaffected="errors and tensor peaks")
    return report


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message`, shortened at a word boundary (never cut mid-word)."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0] if text else ''}".strip()
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " ..."


def _step(model, x: torch.Tensor, impl: str, backward: bool) -> Callable[[], torch.Tensor]:
    """One measured call: forward (and backward of the logits' sum) under `impl`."""

    def run():
        model.set_attn_impl(impl)
        if not backward:
            return model(x)
        x.grad = None
        out = model(x)
        out.float().sum().backward()
        return out

    return run


def _sample_blocks(model) -> dict[str, object]:
    """One regular and one shifted block per stage, keyed like `s1 regular`."""
    picked = {}
    for i, stage in enumerate(model.layers, start=1):
        for block in stage.blocks:
            kind = "shifted" if any(block.shift) else "regular"
            picked.setdefault(f"s{i} {kind}", block)
    return picked


def _block_inputs(model, x: torch.Tensor, blocks: dict[str, object]) -> dict[str, torch.Tensor]:
    """The real feature map each sampled block sees in a reference forward."""
    seen, hooks = {}, []
    for key, block in blocks.items():
        hooks.append(block.register_forward_pre_hook(lambda _m, args, key=key: seen.setdefault(key, args[0].detach())))
    try:
        with torch.no_grad():
            model.set_attn_impl("reference")(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _grad_mode(backward: bool):
    return torch.enable_grad() if backward else torch.inference_mode()


def _try_impls(model, x, names, backward, device, dtype, status, report) -> dict[str, torch.Tensor]:
    """One call per implementation (also its warm-up / compile); fills `status`, returns outputs by name."""
    outputs = {}
    for name in names:
        reason = unavailable_reason(name, device, dtype)
        if reason is None:
            report(f"checking {name}")
            try:
                with _grad_mode(backward):
                    out = _step(model, x, name, backward)().detach().float()
                    grad = x.grad.detach().float().clone() if backward else None
                outputs[name] = (out, grad)
            except Exception as exc:  # an implementation that fails here is reported, not fatal
                reason = _first_line(exc)
        status[name] = reason or "ok"
    return outputs


def _block_latency(model, x, runnable, backward, warmup, iters, device, report) -> dict[str, dict[str, float]]:
    """Median ms of one full block forward (or forward+backward) per sampled block and implementation."""
    blocks = _sample_blocks(model)
    inputs = _block_inputs(model, x.detach(), blocks)
    result: dict[str, dict[str, float]] = {name: {} for name in runnable}
    for key, block in blocks.items():
        report(f"timing block {key}")
        inp = inputs[key].requires_grad_(backward)

        def call(name, block=block, inp=inp):
            def run():
                block.attn_impl = name
                out = block(inp)
                if backward:
                    out.float().sum().backward()
                return out

            return run

        timings = measure_interleaved({n: call(n) for n in runnable}, warmup, iters, device, grad=backward)
        for name, t in timings.items():
            result[name][f"{key} block ms"] = t.median
    return result


def compare_attention(
    variant: str = "swin_t",
    res: int = 224,
    batch: int = 8,
    device: str = "cpu",
    dtype: str = "fp32",
    backward: bool = False,
    impls: list[str] | None = None,
    warmup: int = 2,
    iters: int = 10,
    block_iters: int | None = None,
    seed: int = 0,
    on_progress: Callable[[str], None] | None = None,
    model_overrides: dict | None = None,
) -> AttentionComparison:
    """Compare attention implementations on `variant` at `res`x`res`, batch `batch`.

    Per implementation: max abs error of the logits (and, with `backward`, of the input gradient) vs
    `reference`; median latency of one regular and one shifted block per stage; full-model median and p90
    latency interleaved with the others; tensor peak of one call (`swinprof.measure.memory.forward_tensor_peak`);
    speedup vs reference.
    `model_overrides` replace config fields (`embed_dim=`, `depths=`, ...), e.g. for small test models.
    """
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    names = list(dict.fromkeys(["reference", *(impls or available_attention())]))
    for name in names:
        get_attention(name)  # unknown names fail before any work
    report = on_progress or (lambda _msg: None)
    torch.manual_seed(seed)
    model = create_model(variant, img_size=res, **(model_overrides or {})).to(device=dev, dtype=dt).eval()
    x = seeded_images(batch, res, seed, device=dev, dtype=dt).requires_grad_(backward)
    status: dict[str, str] = {}
    outputs = _try_impls(model, x, names, backward, dev, dt, status, report)
    if "reference" not in outputs:
        raise SwinprofError(f"the reference implementation cannot run here: {status['reference']}")
    runnable = [n for n in names if n in outputs]
    blocks = _block_latency(model, x, runnable, backward, 1, block_iters or iters, dev, report)
    report(f"timing the full model ({iters} rounds of {len(runnable)} implementations)")
    fns = {n: _step(model, x, n, backward) for n in runnable}
    timings = measure_interleaved(fns, warmup, iters, dev, grad=backward)
    peaks: dict[str, int | None] = {}
    unmeasured: list[str] = []
    for name in runnable:
        report(f"measuring peak memory of {name}")
        try:
            with _grad_mode(backward), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # flex warns before it fails under the dispatch mode
                peaks[name] = forward_tensor_peak(fns[name], dev, grad=backward)
        except Exception as exc:  # e.g. compiled FlexAttention cannot run under a dispatch mode
            peaks[name] = None
            unmeasured.append(f"peak memory of {name} not measured: it cannot run under the tensor-peak meter's "
                              f"dispatch mode ({type(exc).__name__})")  # fmt: skip
    ref_out, ref_grad = outputs["reference"]
    ref_ms = timings["reference"].median
    rows = []
    for name in names:
        row = {"impl": name, "status": status[name]}
        if name in outputs:
            out, grad = outputs[name]
            row["max abs err (logits)"] = (out - ref_out).abs().max().item()
            if backward:
                row["max abs err (input grad)"] = (grad - ref_grad).abs().max().item()
            row.update(blocks[name])
            t = timings[name]
            row.update({"model ms (median)": t.median, "model ms (p90)": t.p90})
            row["speedup vs reference"] = ref_ms / t.median
            row["tensor peak (MiB)"] = peaks[name] / 2**20 if peaks[name] is not None else float("nan")
            row["tensor_peak_bytes"] = peaks[name]
        rows.append(row)
    settings = dict(
        variant=variant, res=res, batch=batch, device=dev.type, dtype=dtype if isinstance(dtype, str) else str(dt),
        backward=backward, warmup=warmup, iters=iters, block_iters=block_iters or iters, seed=seed,
    )  # fmt: skip
    if model_overrides:
        settings["model config"] = dict(model_overrides)
    notes = [
        f"weights: random init (seed {seed}); latency does not depend on weight values",
        "block ms: one full block (attention + MLP) on the feature map it sees in the model, median",
        "model ms: whole-model " + ("forward + backward" if backward else "forward") + ", implementations "
        "interleaved round-robin in one process; speedup = reference median / median",
        f"tensor peak (MiB): {TENSOR_PEAK} of one {'forward + backward' if backward else 'forward'} after a "
        "warm-up call ("
        + (
            "torch.cuda.max_memory_allocated above the pre-call level"
            if dev.type == "cuda"
            else "weights, the input and kernel-internal scratch excluded"
        )
        + "); the same meter as every command",
        *unmeasured,
    ]
    return AttentionComparison(pd.DataFrame(rows), settings, environment(dev), notes)
