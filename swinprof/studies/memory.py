"""Memory options compared: one row per configuration, two meters per row, step time, ratios vs the baseline.

Per row (a `MemoryConfig`), in `train` mode (one training step) or `infer` mode (one forward under
`torch.inference_mode()`):

- **tensor peak** and its breakdown, measured in this process on one shared model (train: and one shared,
  warm AdamW, so parameters and optimizer state are identical and rows differ in activations and transients);
- **process peak**, measured in a fresh process per row (`run_isolated` of `optimize.memory_options.isolated_step`)
  under the pinned allocator `ALLOCATOR_ENV`: peak RSS on CPU, `max_memory_reserved` on CUDA. A process peak
  per row is impossible in the shared process: it only ever grows, and it holds what earlier rows left;
- **step time**, medians of steps interleaved across the rows in this process (ratios from one run).

A saving that shows in one meter and not in the other is said in the table's notes. The module also builds
the Reports of the budget search and the ZeRO-1 table, so `swinprof memory` renders through one path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch

from swinprof.measure.environment import busy_warning, environment, load_average
from swinprof.measure.isolated import ALLOCATOR_ENV, ALLOCATOR_NOTE, run_isolated
from swinprof.measure.memory import TENSOR_PEAK, process_peak_meter
from swinprof.measure.timing import measure_interleaved
from swinprof.optimize.memory_budget import BudgetResult
from swinprof.optimize.memory_options import (
    MIB,
    MemoryConfig,
    ModelSpec,
    StepMemory,
    make_batch,
    make_optimizer,
    measure_forward_memory,
    measure_step_memory,
    train_step,
    window_tokens,
)
from swinprof.report.document import Report

HIDDEN = ("tensor_peak_bytes", "process_peak_bytes", "process_floor_bytes")
# What `memory` answers (README: "in two meters: tensor peak and process peak, with ratios vs baseline"): both
# meters and their ratios stay on screen at any width; times and the parts of a training step fold first.
STEPS_HEADLINE = ("config", "tensor peak (MiB)", "process peak (MiB)", "tensor peak vs baseline",
                  "process peak vs baseline")  # fmt: skip
SAVING = 0.05  # a meter "shows a saving" when it drops by more than this fraction of the baseline
STEP_JOB = "swinprof.optimize.memory_options:isolated_step"

Progress = Callable[[str], None]


@dataclass
class ProcessPeak:
    """One fresh process's peak (bytes; None where unreadable), what it held before the step, and its pid."""

    peak: int | None
    floor: int | None
    pid: int


def process_peak(spec: ModelSpec, config: MemoryConfig, mode: str, batch: int, device: torch.device) -> ProcessPeak:
    """Process peak of exactly `config`'s step, run in a fresh interpreter with the pinned allocator."""
    kwargs = {"model": spec.to_json(), "config": config.to_json(), "mode": mode, "batch": batch, "device": str(device)}
    result = run_isolated(STEP_JOB, kwargs, allocator_env=ALLOCATOR_ENV)
    value = result.value
    peak = value["device_peak_bytes"] if device.type == "cuda" else result.process_peak_bytes
    return ProcessPeak(peak, value["floor_bytes"], value["pid"])


def rows_for_mode(configs: list[MemoryConfig], mode: str) -> tuple[list[MemoryConfig], list[str]]:
    """The configurations worth measuring in `mode`, and the labels left out.

    Under inference_mode activation checkpointing does nothing (nothing is kept for backward), so in infer
    mode each configuration is measured without it and duplicates of another row are left out.
    """
    if mode == "train":
        return list(configs), []
    rows: list[MemoryConfig] = []
    dropped: list[str] = []
    for cfg in configs:
        effective = cfg.for_inference()
        if effective in rows:
            dropped.append(cfg.label)
        else:
            rows.append(effective)
    return rows, dropped


def _step_fn(model, optimizer, cfg: MemoryConfig, images, labels) -> Callable[[], object]:
    if optimizer is None:
        return lambda: cfg.apply(model)(images)

    def step():
        cfg.apply(model)
        train_step(model, optimizer, images, labels)

    return step


def _tensor_peaks(model, optimizer, configs: list[MemoryConfig], images, labels) -> list[StepMemory]:
    tokens = window_tokens(model)
    if optimizer is None:
        return [measure_forward_memory(cfg.apply(model), images, tokens) for cfg in configs]
    return [measure_step_memory(cfg.apply(model), optimizer, images, labels, tokens) for cfg in configs]


def compare_configs(
    spec: ModelSpec,
    configs: list[MemoryConfig],
    batch: int,
    device: torch.device,
    mode: str = "train",
    iters: int = 3,
    warmup: int = 1,
    on_progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per config (the first is the baseline): both meters, breakdown, step time, ratios.

    Process peaks first, one fresh process per row while this process waits; then the tensor peaks and the
    interleaved timing on one model built from `spec` in this process.
    """
    say = on_progress or (lambda _msg: None)
    procs = []
    for i, cfg in enumerate(configs):
        say(f"process peak {i + 1}/{len(configs)} (fresh process): {cfg.label}")
        procs.append(process_peak(spec, cfg, mode, batch, device))
    model = spec.build(device)
    images, labels = make_batch(model, batch, spec.img_size, device)
    optimizer = None
    if mode == "train":
        model.train()
        optimizer = make_optimizer(model)
        train_step(model, optimizer, images, labels)  # creates AdamW state: rows measure a steady-state step
    else:
        model.eval()
    say("tensor peaks")
    mems = _tensor_peaks(model, optimizer, configs, images, labels)
    say("timing (interleaved)")
    fns = {cfg.label: _step_fn(model, optimizer, cfg, images, labels) for cfg in configs}
    timings = measure_interleaved(fns, warmup=warmup, iters=iters, device=device, grad=optimizer is not None)
    configs[0].apply(model)
    return memory_frame(configs, mems, procs, [timings[c.label].median for c in configs], mode)


def _ratio(value: float | None, base: float | None) -> float:
    return value / base if value is not None and base else math.nan


def memory_frame(
    configs: list[MemoryConfig], mems: list[StepMemory], procs: list[ProcessPeak], times_ms: list[float], mode: str
) -> pd.DataFrame:
    """The step table: human MiB columns, ratios vs the first row, then the raw byte columns (`HIDDEN`)."""
    base, base_p, base_t = mems[0], procs[0], times_ms[0]
    train = mode == "train"
    rows = []
    for cfg, m, p, t in zip(configs, mems, procs, times_ms):
        row = {
            "config": cfg.label,
            "tensor peak (MiB)": m.tensor_peak / MIB,
            "process peak (MiB)": p.peak / MIB if p.peak is not None else math.nan,
            "params (MiB)": m.params / MIB,
        }
        if train:
            row["grads (MiB)"] = m.grads / MIB
            row["optimizer state (MiB)"] = m.optimizer_state / MIB
            row["activations (MiB)"] = m.activations / MIB
        row["attn scores peak (MiB)"] = m.scores_peak / MIB
        row["step median (ms)" if train else "forward median (ms)"] = t
        row["tensor peak vs baseline"] = _ratio(m.tensor_peak, base.tensor_peak)
        row["process peak vs baseline"] = _ratio(p.peak, base_p.peak)
        if train:
            row["activations vs baseline"] = _ratio(m.activations, base.activations)
        row["time vs baseline"] = t / base_t
        row.update(tensor_peak_bytes=m.tensor_peak, process_peak_bytes=p.peak, process_floor_bytes=p.floor)
        rows.append(row)
    return pd.DataFrame(rows)


def _change(ratio: float, mib: float) -> str:
    return f"{(ratio - 1) * 100:+.0f}% ({mib:+,.1f} MiB)"


def meter_agreement(frame: pd.DataFrame) -> list[str]:
    """One note per row whose saving shows in one meter and not in the other; one line when none does."""
    notes = []
    base = frame.iloc[0]
    for row in frame.iloc[1:].to_dict(orient="records"):
        t, p = row["tensor peak vs baseline"], row["process peak vs baseline"]
        if math.isnan(p) or (t < 1 - SAVING) == (p < 1 - SAVING):
            continue
        shown, absent = ("tensor peak", "process peak") if t < 1 - SAVING else ("process peak", "tensor peak")
        dt = row["tensor peak (MiB)"] - base["tensor peak (MiB)"]
        dp = row["process peak (MiB)"] - base["process peak (MiB)"]
        notes.append(
            f"{row['config']}: tensor peak {_change(t, dt)} but process peak {_change(p, dp)} vs the baseline: "
            f"the saving shows in the {shown} and not in the {absent}."
        )
    return notes or [
        f"Both meters agree on every row: where one drops by more than {SAVING:.0%} vs the baseline, so does the other."
    ]


def _floor_range(frame: pd.DataFrame) -> str:
    floors = frame["process_floor_bytes"].dropna()
    if floors.empty:
        return "not readable here"
    lo, hi = floors.min() / MIB, floors.max() / MIB
    return f"{lo:,.0f} MiB" if round(lo) == round(hi) else f"{lo:,.0f}-{hi:,.0f} MiB"


def meter_notes(frame: pd.DataFrame, mode: str, device: torch.device) -> list[str]:
    """What each meter counts, in which process, under which allocator setting."""
    cuda = device.type == "cuda"
    if mode == "train":
        counted = (
            "parameters, buffers, gradients, AdamW state, the batch and every tensor a steady-state step allocates"
        )
        fresh = "training step twice (the first creates the AdamW state)"
    else:
        counted = (
            "the forward's own allocations (output included; weights and input excluded), the same function "
            "(forward_tensor_peak) that profile, attention and run use"
        )
        fresh = "forward twice under inference_mode (a warm-up and the measured one)"
    notes = [
        f"{TENSOR_PEAK}" + (" (torch.cuda.max_memory_allocated)" if cuda else "") + f", in this process: {counted}.",
        f"{process_peak_meter(device)}: a fresh process per row builds the model and runs exactly "
        f"that row's {fresh}; it includes the interpreter, torch, the weights and the batch (resident before the "
        f"first step: {_floor_range(frame)}).",
    ]
    if cuda:
        notes.append("CUDA reserved memory is the caching allocator's (this environment's PYTORCH_CUDA_ALLOC_CONF).")
    else:
        notes.append(f"Allocator: {ALLOCATOR_NOTE}.")
    return notes


def step_notes(mode: str, iters: int, warmup: int, dropped: list[str]) -> list[str]:
    """What a step is, the breakdown columns and the timing method."""
    if mode == "train":
        notes = [
            "One step = forward, cross-entropy backward, AdamW step (weight decay 0.05, foreach off), "
            "fp32, train mode.",
            "activations = tensor bytes alive after the forward (kept for backward); grads and optimizer state = "
            "bytes of the parameters' gradients and AdamW's state tensors.",
        ]
        shared = "one model and one AdamW"
    else:
        notes = [
            "One step = one forward of the batch under torch.inference_mode(), eval mode, fp32.",
            "Activation checkpointing only changes what a forward keeps for backward; under inference_mode nothing "
            "is kept, so it changes neither meter: only sequential attention changes an inference step."
            + (f" Left out as repeats of another row: {'; '.join(dropped)}." if dropped else ""),
        ]
        shared = "one model"
    notes += [
        "attn scores peak = most bytes of attention-score-shaped tensors (..., heads, N, N) alive at once "
        "(tensor-peak meter; 0 on CUDA).",
        f"Times: median of {iters} timed step(s) per row, interleaved across rows after {warmup} warm-up each, "
        f"all rows in this process on {shared} (ratios from one run).",
    ]
    return notes


def report_stem(
    spec: ModelSpec, batch: int | None, device: torch.device, window: int | None = None, suffix: str = ""
) -> str:
    """`memory_<model>_<res>[_w<window>][_b<batch>]_<device><suffix>` (suffix: `_infer`, `_budget`, `_zero1`)."""
    win = f"_w{window}" if window else ""
    size = f"_b{batch}" if batch is not None else ""
    return f"memory_{spec.name}_{spec.img_size}{win}{size}_{device.type}{suffix}"


def _report(
    title: str, spec: ModelSpec, batch: int | None, device: torch.device, window: int | None, **settings
) -> Report:
    """A Report titled by what was measured, with the asked settings and this machine's environment."""
    win = f", window {window}" if window else ""
    size = f", batch {batch}" if batch is not None else ""
    asked = {"model": spec.name, "resolution": spec.img_size, "window": window or "variant default"}
    other = {k: v for k, v in spec.overrides.items() if k != "window_size"}
    if other:
        asked["model config"] = other
    if batch is not None:
        asked["batch"] = batch
    asked.update(device=str(device), **settings)
    subject = f"{spec.name} at {spec.img_size}x{spec.img_size}{win}{size}"
    return Report(f"{title}: {subject}", environment(device), settings=asked)


def steps_report(
    spec: ModelSpec,
    configs: list[MemoryConfig],
    batch: int,
    device: torch.device,
    mode: str = "train",
    iters: int = 3,
    warmup: int = 1,
    window: int | None = None,
    on_progress: Progress | None = None,
) -> Report:
    """The `swinprof memory` report: the step table (both meters per row) and, with sequential attention,
    one block's attention peak batched vs chunked."""
    rows, dropped = rows_for_mode(configs, mode)
    load_before = load_average()
    frame = compare_configs(spec, rows, batch, device, mode, iters, warmup, on_progress)
    allocator = " ".join(f"{k}={v}" for k, v in ALLOCATOR_ENV.items())
    title = "Training-step memory" if mode == "train" else "Inference memory"
    report = _report(title, spec, batch, device, window, mode=mode, iters=iters, warmup=warmup,
                     process_peak_allocator=allocator)  # fmt: skip
    add_steps_table(report, frame, mode, device, step_notes(mode, iters, warmup, dropped))
    report.warnings += busy_warning(report.environment, load_before, unaffected="the memory meters")
    seq = next((c for c in rows if c.seq_chunks > 1), None)
    if seq is not None:
        if on_progress is not None:
            on_progress("attention peak")
        _add_attention(report, spec, seq, batch, device, mode == "train")
    return report


def add_steps_table(report: Report, frame: pd.DataFrame, mode: str, device: torch.device, notes: list[str]) -> None:
    """The step table (`memory_frame`) with its meter notes: both meters and their ratios as its headline."""
    notes = meter_notes(frame, mode, device) + meter_agreement(frame) + notes
    what = "Training step" if mode == "train" else "Forward"
    report.add("steps", f"{what} per configuration", frame, notes, hidden=HIDDEN, essential=STEPS_HEADLINE,
               secondary=("time vs baseline", "step median (ms)", "forward median (ms)", "activations (MiB)",
                          "activations vs baseline"))  # fmt: skip


def _add_attention(report: Report, spec: ModelSpec, seq: MemoryConfig, batch: int, device, backward: bool) -> None:
    from swinprof.studies.attention_peak import attention_peak_frame

    stage = seq.seq_stages[0]
    frame = attention_peak_frame(spec.build(device), stage, batch, spec.img_size, seq.seq_chunks, device, backward)
    what = "forward + backward" if backward else "one forward under inference_mode"
    notes = [
        f"{frame.attrs['input']}; {what} of that block's window attention.",
        f"meter: {TENSOR_PEAK}. working set = peak bytes above the inputs (scores, q/k/v, projections"
        + (", gradients)." if backward else ")."),
        "expected scores factor = windows / windows per chunk (the score tensor shrinks with the chunk); with a "
        "shift mask and batch > 1 the measured factor can exceed it: the batched path adds one (windows, heads, N, "
        "N) bias+mask sum shared by the images, a chunk adds bias and mask in two steps without it.",
    ]
    report.add("attention", f"Sequential attention: stage {stage + 1} attention peak", frame, notes)


def budget_report(
    result: BudgetResult, budget: str, config: MemoryConfig, spec: ModelSpec, device: torch.device, window: int | None
) -> Report:
    """The budget search as a Report: one row per probed batch (measured, extrapolated or out of memory)."""
    frame = pd.DataFrame(
        [{"batch": b, "tensor peak (MiB)": p / MIB if p else math.nan, "how": how} for b, p, how in result.probes]
    )
    frame["tensor_peak_bytes"] = pd.Series([p for _, p, _ in result.probes], dtype=object)  # ints and None
    report = _report("Largest training batch within a memory budget", spec, None, device, window,
                     budget=budget, budget_bytes=result.budget, config=config.label)  # fmt: skip
    notes = [
        f"Largest batch whose tensor peak fits {budget} ({config.label}): {result.batch} "
        f"(tensor peak {result.peak / MIB:,.1f} MiB).",
        f"The budget is held against the {TENSOR_PEAK} (CUDA: max_memory_allocated) of one "
        "steady-state training step: parameters, gradients, AdamW state, the batch and the step's tensors. The "
        "process peak adds the interpreter, torch and allocator slack; `swinprof memory` without --budget shows "
        "both meters for one batch.",
        "Search: doubling from batch 1, then bisection; every 'measured' row is a real training step. On CPU a "
        "candidate whose tensor peak, extrapolated linearly from the two largest measured batches, exceeds the "
        "budget by more than 25% is not run ('extrapolated').",
    ]
    report.add("budget", f"Largest batch within {budget}", frame, notes, hidden=("tensor_peak_bytes",))
    return report


def zero_report(
    frame: pd.DataFrame, config: MemoryConfig, spec: ModelSpec, batch: int, device: torch.device,
    window: int | None, backend: str, iters: int, warmup: int,
) -> Report:  # fmt: skip
    """The ZeRO-1 table (one row per optimizer and rank, gathered on rank 0) as a Report."""
    world = int(frame["world size"].iloc[0])
    report = _report("ZeRO-1 training-step memory", spec, batch, device, window, world_size=world, backend=backend,
                     config=config.label, iters=iters, warmup=warmup)  # fmt: skip
    notes = [
        f"{world} processes (torchrun), {backend} backend, DDP (gradient_as_bucket_view) with {config.label}; "
        f"batch {batch} per rank.",
        f"Meter: {TENSOR_PEAK} of this rank's steady-state training step, per rank (CUDA: "
        "max_memory_allocated less the other optimizer's state).",
        "No process peak here: each rank is one process that runs both optimizers, so its peak RSS belongs to "
        "neither row alone.",
        "optimizer state = this rank's AdamW state tensors; ZeRO-1 keeps only its shard of the parameters.",
        f"Both optimizers step the same DDP model; times are medians of {iters} interleaved steps per rank after "
        f"{warmup} warm-up.",
    ]
    report.add("zero", f"ZeRO-1 on {world} ranks", frame, notes, hidden=("tensor_peak_bytes",))
    return report
