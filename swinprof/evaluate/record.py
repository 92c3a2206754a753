"""The record of a recipe run: resolved recipes, versions, environment, results; written atomically at the end.

Files in the output folder: `<recipe>.resolved.toml` (re-runnable), artifacts such as `<recipe>.onnx`,
`record.json` (everything, machine-readable) and `report.md` (the comparison table). Each file is written with
`atomic_write_*`, and the report last, so an interrupted run leaves no half-written file.
"""

from __future__ import annotations

import json
import math
from importlib import metadata
from pathlib import Path

import pandas as pd

from swinprof.evaluate.compare import BASELINE, RunResult
from swinprof.optimize.recipe import to_dict, to_toml
from swinprof.report.files import atomic_write_bytes, atomic_write_text, ensure_writable_dir
from swinprof.report.render import to_markdown, to_records

PACKAGES = ("swinprof", "torch", "torchao", "onnx", "onnxruntime", "onnxscript", "torch-tensorrt", "nvidia-modelopt")

REPORT_COLUMNS = {
    "recipe": "recipe",
    "method": "method",
    "compile": "compile",
    "batch": "batch",
    "median_ms": "median ms",
    "p90_ms": "p90 ms",
    "img_per_s": "img/s",
    "speedup": "speedup vs fp32",
    "sqnr_db": "SQNR dB",
    "top1_agree": "top-1 agree",
    "cosine": "logit cosine",
    "max_abs_err": "max abs err",
    "acc1": "acc@1 %",
    "d_acc1": "Δacc@1",
    "size_mb": "size MiB",
    "tensor_peak_mb": "tensor peak MiB",
    "prepare_s": "prepare s",
    "first_call_s": "first call s",
    "flag": "flag",
}


def versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None if not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def comparison_frame(result: RunResult) -> pd.DataFrame:
    """The report table: one row per (recipe, batch size); accuracy columns only when there were labels."""
    cols = dict(REPORT_COLUMNS)
    if result.accuracy is None:
        cols.pop("acc1")
        cols.pop("d_acc1")
    df = result.table[list(cols)].rename(columns=cols)
    sort = {name: i for i, name in enumerate([BASELINE, *(r.name for r in result.recipes)])}
    return df.sort_values(["batch", "recipe"], key=lambda s: s.map(sort) if s.name == "recipe" else s)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def record_dict(result: RunResult, env: dict) -> dict:
    return _json_safe(
        {
            "recipes": {r.name: to_dict(r) for r in result.recipes},
            "inputs": result.inputs,
            "environment": env,
            "versions": versions(),
            "results": to_records(result.table),
            "fidelity": {k: v.as_dict() for k, v in result.fidelity.items()},
            "accuracy": {k: vars(v) for k, v in result.accuracy.items()} if result.accuracy else None,
            "prepared": {
                k: {
                    "prepare_s": p.prepare_s,
                    "size_bytes": p.size_bytes,
                    "quantized_layers": p.quantized_layers,
                    "notes": p.notes,
                }
                for k, p in result.prepared.items()
            },
            "warnings": result.warnings,
        }
    )


def report_markdown(result: RunResult, env: dict, title: str | None = None) -> str:
    i = result.inputs
    lines = [
        f"# {title or 'Recipe comparison'}: {i['model']} at {i['img_size']}, {i['device']}",
        "",
        f"- Machine: {env.get('cpu')} ({env.get('cpu_count')} CPUs, torch threads {env.get('threads')})"
        + (f", GPU {env['gpu']}" if env.get("gpu") else ""),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items() if v),
        f"- git {env.get('git_sha')}{' (dirty)' if env.get('git_dirty') else ''}, {env.get('timestamp')}",
        f"- Weights: {i['weights'] or 'random init (latency and fidelity only; accuracy needs real weights)'}",
        f"- Fidelity vs fp32 eager on {i['fidelity_inputs']} ({i['fidelity_samples']} samples)",
        f"- Timing: {i['warmup']} warmup + {i['iters']} iterations per model, all models interleaved in one run; "
        "speedup = fp32 eager median / recipe median at the same batch size",
        "",
        to_markdown(comparison_frame(result)),
    ]
    if result.warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in result.warnings] + [""]
    notes = [(k, n) for k, p in result.prepared.items() for n in p.notes]
    counts = [
        f"{k}: {len(p.quantized_layers)} layers quantized" for k, p in result.prepared.items() if p.quantized_layers
    ]
    if notes or counts:
        lines += ["**Notes**", ""] + [f"- {k}: {n}" for k, n in notes] + [f"- {c}" for c in counts] + [""]
    return "\n".join(lines)


def write_run(result: RunResult, output: str | Path, env: dict, title: str | None = None) -> dict[str, Path]:
    """Write every output file of a run into `output` (report last); returns name -> path."""
    out = ensure_writable_dir(output)
    written: dict[str, Path] = {}
    for r in result.recipes:
        written[f"{r.name}.resolved.toml"] = atomic_write_text(out / f"{r.name}.resolved.toml", to_toml(r))
    for name, p in result.prepared.items():
        for kind, src in p.artifacts.items():
            dst = out / f"{name}.{kind}"
            written[dst.name] = atomic_write_bytes(dst, Path(src).read_bytes())
    written["record.json"] = atomic_write_text(out / "record.json", json.dumps(record_dict(result, env), indent=2))
    written["report.md"] = atomic_write_text(out / "report.md", report_markdown(result, env, title))
    return written
