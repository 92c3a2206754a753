"""The process peak of a recipe: prepare it and run one forward in a fresh interpreter.

A process peak (peak RSS) counts everything the process ever held, so recipes prepared one after another in one
process cannot be told apart. Each (recipe, batch size) therefore runs as a job of `swinprof.measure.isolated`:
a new interpreter, under the pinned allocator setting, loads the fp32 weights the comparison used (saved once
by `save_model`, memory-mapped so they are resident once), prepares the recipe on the same calibration batches,
runs one forward at the batch size and returns. Its peak RSS is the recipe's process peak (on CUDA, the child's
peak reserved CUDA memory). The child rebuilds compiled graphs; inductor's on-disk cache makes that cheaper.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from swinprof.measure.isolated import run_isolated

PROCESS_PEAK = "process peak (fresh process: prepare + forward)"


@dataclass(frozen=True)
class FreshPeak:
    """The process peak (bytes; None where the platform cannot say), and what the child took (s)."""

    bytes: int | None
    prepare_s: float
    wall_s: float


def save_model(model: nn.Module, path: Path) -> Path:
    """Write what a child needs to rebuild `model` (a SwinTransformer): its config, attention and weights."""
    torch.save({"config": dataclasses.asdict(model.config), "attn_impl": model.attn_impl,
                "state_dict": model.state_dict()}, path)  # fmt: skip
    return path


def load_model(path: str | Path) -> nn.Module:
    """The model `save_model` wrote, in eval mode, its weights memory-mapped from the file (resident once)."""
    from swinprof.models import SwinConfig, SwinTransformer

    saved = torch.load(path, mmap=True, weights_only=True)
    config = SwinConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved["config"].items()})
    model = SwinTransformer(config, saved["attn_impl"])
    model.load_state_dict(saved["state_dict"], assign=True)
    return model.eval()


def prepare_and_forward(recipe: dict, model_file: str, batch: int, calibration_file: str | None, seed: int) -> dict:
    """The child's job: prepare `recipe` (a resolved recipe as a dict) and run one forward at `batch`."""
    from swinprof.measure.device import synchronize
    from swinprof.optimize.prepare import prepare
    from swinprof.optimize.recipe import parse_recipe

    r = parse_recipe(recipe, source=f"recipe {recipe.get('meta', {}).get('name')!r} (fresh process)")
    device = torch.device(r.target.device)
    model = load_model(model_file).to(device)
    calibration = torch.load(calibration_file, weights_only=True) if calibration_file else []
    c = model.config
    x = torch.randn(batch, c.in_chans, c.img_size, c.img_size, generator=torch.Generator().manual_seed(seed))
    with tempfile.TemporaryDirectory(prefix="swinprof-fresh-") as work:
        start = time.perf_counter()
        prepared = prepare(r, model, [b.to(device) for b in calibration], Path(work))
        prepare_s = time.perf_counter() - start
        with torch.inference_mode():
            prepared.fn(x.to(device))
        synchronize(device)
    out = {"prepare_s": prepare_s}
    if device.type == "cuda":
        out["cuda_peak_bytes"] = torch.cuda.max_memory_reserved(device)
    return out


def fresh_process_peak(
    recipe: dict, model_file: Path, batch: int, calibration_file: Path | None, seed: int = 0
) -> FreshPeak:
    """Run `prepare_and_forward` in a fresh interpreter; its peak RSS (CUDA: peak reserved) is the answer."""
    job = {"recipe": recipe, "model_file": str(model_file), "batch": batch, "seed": seed,
           "calibration_file": str(calibration_file) if calibration_file else None}  # fmt: skip
    result = run_isolated("swinprof.optimize.fresh:prepare_and_forward", job)
    peak = result.value.get("cuda_peak_bytes", result.process_peak_bytes)
    return FreshPeak(peak, result.value["prepare_s"], result.wall_s)
