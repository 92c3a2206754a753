"""A runtime registered from outside swinprof, as a plugin would be: `edge-rt` with one method `edge-q`, each
declaring a deployment candidate (TOML files of their own, not presets). Used to show that a new runtime joins
`swinprof run native` without any command naming it.

`edge-rt` runs the fp32 model as it is; `edge-q` (kind int8) adds seeded noise to the logits at 20 dB SQNR, below
the default deployment floor (30 dB), so a choice among them is known in advance whatever the timings say.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

import swinprof.optimize.methods as registry
from swinprof.optimize.methods import MethodJob, MethodSpec, Quantized, RuntimeSpec
from swinprof.optimize.prepare import Prepared, state_dict_bytes

NOISE_SQNR_DB = 20.0
CANDIDATES = {
    "edge-fp32": '[meta]\ndescription = "edge runtime, fp32"\n[target]\nruntime = "edge-rt"\n',
    "edge-int8": '[target]\nruntime = "edge-rt"\n[quantize]\nmethod = "edge-q"\n',
    "edge-bf16": '[target]\nruntime = "edge-rt"\nprecision = "bf16"\n',
}


class _Noisy:
    """fp32 logits plus seeded Gaussian noise at NOISE_SQNR_DB below their power."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        noise = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))
        scale = logits.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() * 10 ** (-NOISE_SQNR_DB / 20)
        return logits + scale * noise


def _prepare_edge(recipe, model, calibration, workdir: Path) -> Prepared:
    q = registry.apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, model, calibration, workdir))
    return Prepared(recipe.name, q.work, 0.0, state_dict_bytes(model), q.layers)


def register_plugin(monkeypatch, folder: Path, strip_builtin: bool = False) -> dict[str, Path]:
    """Register `edge-rt` and `edge-q` into a copy of the registry (undone by `monkeypatch`), their candidates
    written into `folder`; `strip_builtin` removes the built-in candidates (a run of the set stays small)."""
    runtimes, methods = dict(registry.runtimes()), dict(registry.methods())
    if strip_builtin:
        runtimes = {n: dataclasses.replace(r, spec=dataclasses.replace(r.spec, candidates=()))
                    for n, r in runtimes.items()}  # fmt: skip
        methods = {n: dataclasses.replace(m, spec=dataclasses.replace(m.spec, candidates=()))
                   for n, m in methods.items()}  # fmt: skip
    monkeypatch.setattr(registry, "_RUNTIMES", runtimes)
    monkeypatch.setattr(registry, "_METHODS", methods)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in CANDIDATES.items():
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(text)
    spec = RuntimeSpec(("cpu",), title="Edge", packages=("torch",), size_meter="state dict",
                       candidates=(str(paths["edge-fp32"]), str(paths["edge-bf16"])))  # fmt: skip
    registry.register_runtime("edge-rt", spec)(_prepare_edge)
    method = MethodSpec("edge-rt", ("cpu",), kind="int8", candidates=(str(paths["edge-int8"]),))
    registry.register_method("edge-q", method)(lambda job: Quantized(_Noisy(job.work), ["head"]))
    return paths
