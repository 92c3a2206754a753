"""Cross-check of the aten MAC total against fvcore's (an independent, JIT-trace based counter)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from swinprof.errors import require_extra
from swinprof.profile.macs import CostTrace

# fvcore handlers that count multiply-adds of matmul-like ops (the same work our aten count sees).
_FVCORE_MATMUL = {"linear", "matmul", "bmm", "conv", "einsum", "addmm", "mm", "baddbmm", "upsample_bilinear2d"}


@dataclass
class CrossCheck:
    """Both totals (MACs) and one line explaining the difference."""

    ours: int
    fvcore: int
    fvcore_matmul: int
    fvcore_other: dict[str, int]
    skipped: list[str]

    @property
    def explanation(self) -> str:
        diff = self.fvcore - self.ours
        pct = 100.0 * diff / self.ours if self.ours else float("nan")
        other = ", ".join(f"{k} {v / 1e9:.4f}G" for k, v in sorted(self.fvcore_other.items())) or "nothing"
        return (
            f"fvcore {self.fvcore / 1e9:.4f} GMACs vs aten {self.ours / 1e9:.4f} GMACs ({pct:+.2f}%): "
            f"its matmul/linear/conv part differs by {self.fvcore_matmul - self.ours:,} MACs, it adds {other} "
            f"(not multiply-adds in the aten count) and skips {', '.join(self.skipped) or 'no ops'}"
        )


def fvcore_cross_check(model: nn.Module, example_input: torch.Tensor, trace: CostTrace) -> CrossCheck:
    """Count `model(example_input)` with fvcore (needs real tensors: it JIT-traces) and compare with `trace`."""
    fvcore_nn = require_extra("fvcore.nn", "fvcore", "the fvcore cross-check")
    if example_input.device.type == "meta":
        raise ValueError("fvcore traces with real tensors; pass a CPU or CUDA input")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, example_input)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_op = {k: int(v) for k, v in analysis.by_operator().items()}
        skipped = sorted({k.removeprefix("aten::") for k in analysis.unsupported_ops()})
    matmul = sum(v for k, v in by_op.items() if k in _FVCORE_MATMUL)
    other = {k: v for k, v in by_op.items() if k not in _FVCORE_MATMUL and v}
    return CrossCheck(trace.total_macs, sum(by_op.values()), matmul, other, skipped)
