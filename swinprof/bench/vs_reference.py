"""Our model vs an independent implementation (transformers), same weights: logit agreement and speed.

Both models are timed interleaved in one run, so the ratio is honest on a noisy machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from swinprof.bench.timing import Timing, measure_interleaved
from swinprof.models import create_model, get_variant
from swinprof.models.hf_reference import hf_model_for, load_into_hf


@dataclass
class ReferenceComparison:
    variant: str
    res: int
    batch: int
    max_abs_logit_diff: float
    ours: Timing
    reference: Timing
    env: dict

    @property
    def speedup(self) -> float:
        """> 1 means ours is faster (reference median / ours median)."""
        return self.reference.median / self.ours.median

    def rows(self) -> list[dict]:
        return [
            {"implementation": name, "median ms": t.median, "p90 ms": t.p90, "samples": len(t.samples_ms)}
            for name, t in (("swinprof (reference attn)", self.ours), ("transformers", self.reference))
        ]


def compare_with_reference(
    name: str, res: int | None = None, batch: int = 1, warmup: int = 3, iters: int = 20, seed: int = 0
) -> ReferenceComparison:
    """Build `name` with random weights, copy them into transformers' model, compare logits and latency."""
    from swinprof.runtime import environment

    torch.manual_seed(seed)
    ours = create_model(name, img_size=res).eval()
    res = ours.config.img_size
    ref = hf_model_for(ours.config)
    load_into_hf(ref, ours.state_dict(), ours.config.version)
    x = torch.randn(batch, 3, res, res)
    with torch.inference_mode():
        diff = (ours(x) - ref(pixel_values=x).logits).abs().max().item()
    timings = measure_interleaved(
        {"ours": lambda: ours(x), "reference": lambda: ref(pixel_values=x)}, warmup=warmup, iters=iters
    )
    return ReferenceComparison(
        get_variant(name).name, res, batch, diff, timings["ours"], timings["reference"], environment()
    )
