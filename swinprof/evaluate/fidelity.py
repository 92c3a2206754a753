"""Fidelity of an optimized model against the fp32 model on the same inputs (always available, no labels)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Fidelity:
    """How closely `test` logits follow `reference` logits over N samples.

    top1_agreement: fraction of samples with the same argmax. top5_agreement: fraction whose reference top-1
    class is among the test top-5 (acc@5 with the fp32 prediction as the label). cosine: mean per-sample cosine
    similarity of the logit vectors. sqnr_db: 10 log10(sum ref^2 / sum (ref - test)^2) over all logits.
    max_abs_err: largest absolute logit difference.
    """

    samples: int
    top1_agreement: float
    top5_agreement: float
    cosine: float
    sqnr_db: float
    max_abs_err: float

    def as_dict(self) -> dict:
        return asdict(self)


def sqnr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB; +inf when identical."""
    ref = reference.double()
    noise = (ref - test.double()).pow(2).sum().item()
    signal = ref.pow(2).sum().item()
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def compare_logits(reference: torch.Tensor, test: torch.Tensor) -> Fidelity:
    """Fidelity of `test` `(N, classes)` logits against `reference` `(N, classes)`."""
    if reference.shape != test.shape:
        raise ValueError(f"logit shapes differ: {tuple(reference.shape)} vs {tuple(test.shape)}")
    ref, out = reference.detach().float().cpu(), test.detach().float().cpu()
    k = min(5, ref.shape[1])
    ref_top1 = ref.argmax(dim=1)
    top1 = (out.argmax(dim=1) == ref_top1).float().mean().item()
    top5 = (out.topk(k, dim=1).indices == ref_top1[:, None]).any(dim=1).float().mean().item()
    cosine = torch.nn.functional.cosine_similarity(ref, out, dim=1).mean().item()
    return Fidelity(
        samples=ref.shape[0],
        top1_agreement=top1,
        top5_agreement=top5,
        cosine=cosine,
        sqnr_db=sqnr_db(ref, out),
        max_abs_err=(ref - out).abs().max().item(),
    )


def batched_logits(fn: Callable, x: torch.Tensor, batch: int) -> torch.Tensor:
    """`fn` over `x` `(N, 3, H, W)` in batches of exactly `batch` (the last padded), so compiled static shapes
    see a single batch size. Returns `(N, classes)` on CPU."""
    outs = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch):
            chunk = x[start : start + batch]
            n = chunk.shape[0]
            if n < batch:
                chunk = torch.cat([chunk, chunk.new_zeros(batch - n, *chunk.shape[1:])])
            outs.append(fn(chunk)[:n].float().cpu())
    return torch.cat(outs)
