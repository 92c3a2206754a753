"""Our model vs an independent implementation (transformers), same weights: logit agreement and speed.

All models are timed interleaved in one run, so the ratios are honest on a noisy machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from swinprof.errors import InvalidResolutionError
from swinprof.measure.environment import busy_warning
from swinprof.measure.inputs import seeded_images
from swinprof.measure.timing import Timing, measure_interleaved
from swinprof.models import create_model, get_variant
from swinprof.models.hf_reference import hf_model_for, load_into_hf
from swinprof.report.document import Report

REFERENCE_NAME = "transformers"


def our_label(impl: str) -> str:
    """The row label of our model with attention implementation `impl`."""
    return f"swinprof ({impl} attn)"


@dataclass
class ReferenceComparison:
    variant: str
    res: int
    batch: int
    max_abs_logit_diff: dict[str, float]  # per attention implementation of ours
    timings: dict[str, Timing]  # "swinprof (<impl> attn)" and REFERENCE_NAME
    env: dict

    def speedup(self, name: str) -> float:
        """> 1 means `name` is faster than transformers (median vs median)."""
        return self.timings[REFERENCE_NAME].median / self.timings[name].median

    def rows(self) -> list[dict]:
        diffs = {our_label(impl): d for impl, d in self.max_abs_logit_diff.items()}
        return [
            {
                "implementation": name,
                "max abs logit diff": diffs.get(name),
                "median ms": t.median,
                "p90 ms": t.p90,
                "speed vs transformers": self.speedup(name),
                "samples": len(t.samples_ms),
            }
            for name, t in self.timings.items()
        ]

    def report(self) -> Report:
        title = f"{self.variant} at {self.res}x{self.res}, batch {self.batch}: swinprof vs transformers, eager fp32"
        report = Report(title, environment=self.env,
                        settings={"variant": self.variant, "res": self.res, "batch": self.batch})  # fmt: skip
        notes = [
            "same weights in both models; max abs logit diff = max |ours - transformers| over the batch",
            "latency: all models timed interleaved round-robin in one process (median of the samples); speed vs "
            "transformers = transformers median / median (> 1 is faster than transformers)",
        ]
        report.add("latency", "Logits and eager latency vs transformers", pd.DataFrame(self.rows()), notes)
        report.warnings += busy_warning(self.env, unaffected="logit differences")
        return report


def compare_with_reference(
    name: str,
    res: int | None = None,
    batch: int = 1,
    warmup: int = 3,
    iters: int = 20,
    seed: int = 0,
    attn_impls: tuple[str, ...] = ("reference",),
) -> ReferenceComparison:
    """Build `name` with random weights, copy them into transformers' model, compare logits and latency."""
    from swinprof.measure.environment import environment

    torch.manual_seed(seed)
    ours = create_model(name, img_size=res).eval()
    res = ours.config.img_size
    clamped = sorted({b.window for b in ours.blocks() if b.window != (ours.config.window_size,) * 2})
    if clamped:
        raise InvalidResolutionError(
            f"at {res}x{res} some stages are smaller than the {ours.config.window_size}x{ours.config.window_size} "
            f"window (clamped to {clamped}); transformers sizes its bias tables from the configured window, so the "
            "weights do not transfer: compare at a resolution whose last stage is at least one window wide "
            f"(e.g. {get_variant(name).config.img_size})"
        )
    ref = hf_model_for(ours.config)
    load_into_hf(ref, ours.state_dict(), ours.config.version)
    x = seeded_images(batch, res, seed)
    fns, diffs = {}, {}
    with torch.inference_mode():
        expected = ref(pixel_values=x).logits
    for impl in attn_impls:
        model = create_model(name, img_size=res, attn_impl=impl).eval()
        model.load_state_dict(ours.state_dict())
        with torch.inference_mode():
            diffs[impl] = (model(x) - expected).abs().max().item()
        fns[our_label(impl)] = lambda m=model: m(x)
    fns[REFERENCE_NAME] = lambda: ref(pixel_values=x)
    timings = measure_interleaved(fns, warmup=warmup, iters=iters)
    return ReferenceComparison(get_variant(name).name, res, batch, diffs, timings, environment())
