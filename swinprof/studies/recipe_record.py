"""A recipe run as one Report, plus the files published with it.

`run_report` builds the Report (`swinprof.report.document`): the comparison table (latency, size, both memory
meters, what torch.compile did) and the fidelity/accuracy table, each with notes naming its meters; settings
(including the preprocessing actually used), environment and versions, notes and warnings. `run_files` are the
files that go with it: `<recipe>.resolved.toml` (re-runnable), artifacts such as `<recipe>.onnx` and
`record.json` (everything, machine-readable). The CLI prints and publishes both with `emit`, as one unit.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import pandas as pd

from swinprof.measure.environment import busy_warning
from swinprof.measure.isolated import ALLOCATOR_NOTE
from swinprof.measure.memory import TENSOR_PEAK
from swinprof.measure.native import native_summary
from swinprof.optimize.fresh import PROCESS_PEAK
from swinprof.optimize.methods import registered_packages, runtimes
from swinprof.optimize.recipe import to_dict, to_toml
from swinprof.report.document import Report
from swinprof.report.render import to_records
from swinprof.studies.deploy_choice import DeployQuestion, choice_frame, choice_notes, choice_record, choose
from swinprof.studies.recipe_run import BASELINE, RunResult

NOT_MEASURED = "not measured"

# machine column -> label people read; the raw columns beside them stay in json/csv only.
COMPARISON_COLUMNS = {
    "recipe": "recipe",
    "method": "method",
    "runtime": "runtime",
    "compile": "compile",
    "native": "native here",
    "quantized_linears": "linears quantized",
    "batch": "batch",
    "median_ms": "median ms",
    "p90_ms": "p90 ms",
    "img_per_s": "img/s",
    "speedup": "speedup vs fp32",
    "size_mb": "size MiB",
    "tensor_peak_mb": "tensor peak MiB",
    "process_peak_mb": "process peak MiB",
    "prepare_s": "prepare s",
    "first_call_s": "first call s",
    "dynamo": "graphs / breaks / recompiles",
    "flag": "flag",
}
RAW_COLUMNS = ("size_bytes", "tensor_peak_bytes", "process_peak_bytes", "compile_graphs", "compile_breaks",
               "compile_recompiles")  # fmt: skip
# Kept in json/csv, left out for people: the raw columns, and the runtime (the method names it; 16 columns fold).
HIDDEN = ("runtime", *RAW_COLUMNS)


def versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None if not installed): swinprof and what every
    registered runtime and method declares (`RuntimeSpec.packages`, `MethodSpec.packages`)."""
    out = {}
    for name in registered_packages():
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _order(result: RunResult) -> dict[str, int]:
    return {name: i for i, name in enumerate([BASELINE, *(r.name for r in result.recipes)])}


def comparison_frame(result: RunResult) -> pd.DataFrame:
    """One row per (recipe, batch size): labelled columns, then the raw ones (hidden from people)."""
    order = _order(result)
    table = result.table.sort_values(["batch", "recipe"], key=lambda s: s.map(order) if s.name == "recipe" else s)
    df = table[list(COMPARISON_COLUMNS)].rename(columns=COMPARISON_COLUMNS)
    if result.process_peaks is None:
        df["process peak MiB"] = NOT_MEASURED
    raw = table[list(RAW_COLUMNS)].map(lambda v: None if pd.isna(v) else int(v)).astype(object)  # exact, or null
    return pd.concat([df, raw], axis=1).reset_index(drop=True)


def _finite(value: float | None) -> float | None:
    """SQNR of the reference against itself is +inf: shown blank (json has no infinity)."""
    return value if value is None or math.isfinite(value) else None


def fidelity_frame(result: RunResult) -> pd.DataFrame:
    """One row per model: agreement with fp32 eager, and accuracy when the images had labels."""
    rows = []
    base = result.accuracy.get(BASELINE) if result.accuracy else None
    for name in sorted(result.fidelity, key=_order(result).get):
        f = result.fidelity[name]
        row = {"recipe": name, "samples": f.samples, "top-1 agree": f.top1_agreement, "top-5 agree": f.top5_agreement,
               "logit cosine": f.cosine, "SQNR dB": _finite(f.sqnr_db), "max abs err": f.max_abs_err}  # fmt: skip
        if result.accuracy is not None:
            a = result.accuracy[name]
            row |= {"acc@1 %": a.acc1, "acc@5 %": a.acc5, "Δacc@1": a.acc1 - base.acc1 if base else None}
        rows.append(row)
    return pd.DataFrame(rows)


def evaluation_frame(result: RunResult) -> pd.DataFrame:
    """The pass over --data as one row: how many images, by whom, how fast, and which side bounded it."""
    e = result.evaluation
    return pd.DataFrame([{
        "images": e.images + e.resumed, "resumed": e.resumed, "processes": result.inputs.ranks,
        "data workers": e.workers, "wall s": e.wall_s, "img/s": e.images_per_s, "models img/s": e.model_rate,
        "data pipeline img/s": e.data_rate, "waited for data s": e.wait_s / e.ranks, "bound by": e.bound,
    }])  # fmt: skip


EVALUATION_NOTES = [
    "img/s: images evaluated by every model per second of wall time (rank 0's clock, first batch to last); "
    "models img/s: images over the time spent in the models' forwards (all models, summed over processes, per "
    "process); data pipeline img/s: images over the time spent decoding and preprocessing (Pillow decode, resize, "
    "crop, normalise), times the processes decoding at once (data workers per process, or the process itself with "
    "0 workers); waited for data s: time a process spent blocked on its next batch (mean over processes)",
    "bound by: the data pipeline when processes waited for data more than a tenth of the wall time, else the "
    "models; with 0 data workers decoding runs between forwards, so both add up",
    "each image is decoded once for all models; the batches have the same images whatever the number of "
    "processes (batch k is images kB..kB+B-1, the last padded with zero images), so per-image results do not "
    "depend on it; resumed: images whose results a killed run had committed (--resume)",
]


def comparison_notes(result: RunResult) -> list[str]:
    """What each column of the comparison measures, and with which meter."""
    i = result.inputs
    process = (
        f"process peak MiB: {PROCESS_PEAK}: peak RSS of a new interpreter that loads the same fp32 weights, "
        "prepares the recipe and runs one forward at the row's batch size (CUDA: its peak reserved memory); it "
        f"includes the interpreter, libraries and weights. Allocator: {ALLOCATOR_NOTE}"
        if result.process_peaks is not None
        else f"process peak MiB: {NOT_MEASURED} (--no-process-memory)"
    )
    settle = (f", each after {i.settle_ms:g} ms idle (recipes on several runtimes: the last one's thread pool "
              "stops spin-waiting first)" if i.settle_ms else "")  # fmt: skip
    return [
        f"median / p90 ms: {i.iters} timed calls per model after {i.warmup} warm-up calls, all models "
        f"interleaved in one run{settle}; speedup vs fp32 = fp32 eager median / recipe median at the same batch "
        "size",
        f"tensor peak MiB: {TENSOR_PEAK} of one forward at the row's batch size, after a warm-up call (weights "
        f"and input excluded); blank for compiled, {_titles(lambda s: not s.dispatcher)} rows, whose kernels "
        "allocate outside the PyTorch dispatcher the meter watches",
        process,
        "size MiB: " + "; ".join(_per_runtime(lambda s: s.size_meter)),
        "graphs / breaks / recompiles: graphs torch.compile built, graph breaks, graphs recompiled after their "
        "warm-up call (torch._dynamo counters over the whole run; one compile per input shape is by design)",
        "linears quantized: nn.Linear layers that actually run quantized, counted after the first call: "
        + "; ".join(_per_runtime(lambda s: s.count_evidence or (s.uncountable and f"not counted, {s.uncountable}"))),
        "prepare s: quantize / export / calibrate; first call s: the first call at that batch size (compiles)",
        "native here: whether the formats the recipe computes in (its method's int8/fp8, its target precision) run "
        "on this device's own instructions (see 'native precisions'); 'no' means emulated, slower than fp32",
    ]


def _titles(which) -> str:
    """The report names of the registered runtimes whose spec passes `which`, as a phrase."""
    names = [r.spec.title for r in runtimes().values() if which(r.spec)]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _per_runtime(describe) -> list[str]:
    """`<title>: <what describe says>` for every registered runtime (the first one, PyTorch, without its title)."""
    out = []
    for i, runtime in enumerate(runtimes().values()):
        text = describe(runtime.spec)
        if text:
            out.append(text if i == 0 else f"{runtime.spec.title}: {text}")
    return out


def _run_notes(result: RunResult) -> list[str]:
    notes = [f"{name}: {note}" for name, p in result.prepared.items() for note in p.notes]
    notes += [f"{name}: {len(p.quantized_layers)} layers quantized"
              for name, p in result.prepared.items() if p.quantized_layers]  # fmt: skip
    if result.process_peaks:
        total = sum(p.wall_s for p in result.process_peaks.values())
        notes.append(f"process peaks: {len(result.process_peaks)} fresh processes took {total:.0f} s in all")
    return notes


def run_settings(result: RunResult) -> dict:
    """What was asked and used, as the report's settings (preprocessing included)."""
    i = result.inputs
    return {
        "model": i.model,
        "resolution": f"{i.img_size}x{i.img_size}",
        "weights": i.weights or "random init (latency and fidelity only; accuracy needs real weights)",
        "device": i.device,
        "native precisions": native_summary(i.device),
        "recipes": ", ".join(r.name for r in result.recipes),
        "batch sizes": ", ".join(map(str, i.batch_sizes)),
        "timing": f"{i.warmup} warm-up + {i.iters} timed calls per model, interleaved"
        + (f", {i.settle_ms:g} ms idle before each" if i.settle_ms else ""),
        "fidelity inputs": f"{i.fidelity_inputs}; {i.fidelity_samples} samples, batch {i.eval_batch_size}",
        "calibration": f"images from {i.calibration_data}"
        if i.calibration_data
        else "the --data images when a recipe calibrates on data, else seeded random inputs",
        "preprocessing": " -> ".join(i.preprocessing) + f" (crop_pct {i.crop_pct})",
        "evaluation": f"{i.ranks}, {i.workers} data workers each" if i.data else "no --data",
        "latency timing": "this process" if i.ranks == "1 process" else "one process (rank 0), after the other ranks "
        "finished",
        "process memory": "fresh process per recipe and batch size" if i.process_memory else NOT_MEASURED,
        "bench lock": i.bench_lock or "none",
        "seed": i.seed,
    }


def run_report(result: RunResult, env: dict, title: str | None = None,
               question: DeployQuestion | None = None) -> Report:  # fmt: skip
    """The whole run as one Report: comparison and fidelity tables with their meters, settings, warnings; with a
    `question`, last, the recipe to deploy per batch size (`studies.deploy_choice`)."""
    i = result.inputs
    title = title or f"swinprof run: {i.model} at {i.img_size}x{i.img_size} on {i.device} vs fp32 eager"
    installed = {f"{k} version": v for k, v in versions().items() if v and k != "torch"}
    report = Report(title, environment={**env, **installed}, settings=run_settings(result))
    report.add("comparison", "Recipes vs fp32 eager", comparison_frame(result), comparison_notes(result),
               hidden=HIDDEN, essential=("recipe", "batch", "median ms", "speedup vs fp32", "tensor peak MiB"),
               secondary=("flag", "linears quantized", "process peak MiB", "img/s", "method",
                          "native here"))  # fmt: skip
    fidelity_note = f"agreement with fp32 eager logits on {i.fidelity_inputs}; SQNR = 10 log10(signal / noise)"
    if result.accuracy is not None:
        fidelity_note += f"; accuracy on {i.images} labeled images ({i.data_layout})"
    report.add("fidelity", "Fidelity (and accuracy) vs fp32 eager", fidelity_frame(result), fidelity_note)
    if result.evaluation is not None:
        report.add("evaluation", "The evaluation pass over --data", evaluation_frame(result), EVALUATION_NOTES,
                   essential=("images", "img/s", "bound by"))  # fmt: skip
    if result.accuracy is not None and all(a.predictions for a in result.accuracy.values()):
        from swinprof.evaluate import recipe_accuracy as ra

        report.add("accuracy", "Accuracy vs fp32 on the same images (paired)",
                   ra.recipe_accuracy_frame(result.accuracy, BASELINE), ra.NOTE,
                   essential=("recipe", "top-1 %", "drop pt", "McNemar p", "top-1 agree %", "flag"),
                   secondary=("verdict", "drop 95% CI", "top-1 95% CI", "lost / gained"))  # fmt: skip
        report.warnings.extend(ra.agreement_warnings(result.accuracy, BASELINE))
    if result.budgets:
        from swinprof.studies.sensitivity import budget_frame

        report.add("budget", "Accuracy budget search", budget_frame(result.budgets), [
            "layers ranked by sensitivity (each quantized alone), then the longest least-sensitive-first prefix "
            "within budget (binary search), checked on held-out inputs; `skipped` stay fp32 and are written into "
            "the resolved recipe's [quantize].skip (its budget removed), so it re-runs without a search",
            *(f"{name}: {note}" for name, s in result.budgets.items() for note in s.notes),
        ])  # fmt: skip
    choices = choose(to_records(result.table), question.floor) if question is not None else []
    if question is not None:
        report.add("choice", "What to deploy here: the fastest at or above the floor", choice_frame(choices),
                   [*choice_notes(question, result.accuracy is not None),
                    f"native precisions here: {native_summary(i.device)}"],
                   essential=("batch", "deploy", "speedup vs fp32", "SQNR dB"))  # fmt: skip
    report.notes.extend(_run_notes(result))
    report.notes.extend(f"deploy here at {c.line(BASELINE)}" for c in choices)
    report.warnings.extend(result.warnings)
    report.warnings += busy_warning(env, unaffected="fidelity, sizes and memory")
    return report


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def record_dict(result: RunResult, env: dict, question: DeployQuestion | None = None) -> dict:
    """Everything about the run, machine-readable: resolved recipes, inputs, results, what each prepare did, and
    the choice when there was a `question`."""
    peaks = result.process_peaks or {}
    return _json_safe({
        "recipes": {r.name: to_dict(r) for r in result.recipes},
        "inputs": asdict(result.inputs),
        "environment": env,
        "versions": versions(),
        "results": to_records(result.table),
        "fidelity": {k: v.as_dict() for k, v in result.fidelity.items()},
        "accuracy": {k: vars(v) for k, v in result.accuracy.items()} if result.accuracy else None,
        "prepared": {
            k: {"prepare_s": p.prepare_s, "size_bytes": p.size_bytes, "quantized_layers": p.quantized_layers,
                "notes": p.notes}
            for k, p in result.prepared.items()
        },
        "compile": {k: s.as_dict() for k, s in result.compile_stats.items()},
        "process_peaks": [{"recipe": name, "batch": b, "bytes": p.bytes, "prepare_s": p.prepare_s, "wall_s": p.wall_s}
                          for (name, b), p in peaks.items()] if result.process_peaks is not None else None,
        "warnings": result.warnings,
        "quantized_linears": {k: vars(c) for k, c in result.quantized.items()},
        "evaluation": (asdict(result.evaluation) | {"images_per_s": result.evaluation.images_per_s,
                       "model_rate": result.evaluation.model_rate, "data_rate": result.evaluation.data_rate,
                       "bound": result.evaluation.bound}) if result.evaluation else None,
        "budgets": {k: {"budget": s.budget, "quantized": s.quantized, "skipped": s.skipped,
                        "search_score": s.search_score, "heldout_score": s.heldout_score,
                        "evaluations": s.evaluations, "seconds": s.seconds} for k, s in result.budgets.items()},
        "choice": choice_record(question, choose(to_records(result.table), question.floor)) if question else None,
    })  # fmt: skip


def run_files(result: RunResult, env: dict, question: DeployQuestion | None = None) -> dict[str, bytes | Path]:
    """The files published with the report: resolved recipes, artifacts, record.json (name -> content)."""
    files: dict[str, bytes | Path] = {f"{r.name}.resolved.toml": to_toml(r).encode() for r in result.recipes}
    for name, p in result.prepared.items():
        files.update({f"{name}.{kind}": Path(src) for kind, src in p.artifacts.items()})
    files["record.json"] = json.dumps(record_dict(result, env, question), indent=2).encode()
    return files
