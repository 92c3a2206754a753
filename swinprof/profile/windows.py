"""Swin-specific notes for the roofline: the window-attention GEMM shapes and what they mean for hardware tiles."""

from __future__ import annotations

import math

from swinprof.models.swin import SwinTransformer
from swinprof.profile.macs import CostTrace

TILES = (16, 32, 64)  # common GEMM tile widths (CPU microkernels, tensor-core MMA tiles)
PAD_TO = 64
_ATTENTION_OPS = ("bmm", "scaled_dot_product")


def _attention_macs(trace: CostTrace, stage: str) -> int:
    rows = trace.records[trace.records["stage"] == stage]
    return int(rows[rows["op"].str.contains("|".join(_ATTENTION_OPS))]["macs"].sum())


def window_gemm_notes(model: SwinTransformer, trace: CostTrace, res: int, batch: int) -> list[str]:
    """One line per stage: the window GEMM shape, tile use, and the MAC cost of padding windows to 64 tokens."""
    notes = []
    total = trace.total_macs
    for i, stage in enumerate(model.layers):
        block = stage.blocks[0]
        (wh, ww), n, hd = block.window, block.window[0] * block.window[1], block.attn.head_dim
        side = model.config.stage_resolution(i, res)
        windows = math.ceil(side / wh) * math.ceil(side / ww)
        fill = ", ".join(f"{n / (math.ceil(n / t) * t):.0%} of {t}-wide" for t in TILES)
        macs = _attention_macs(trace, f"stage{i + 1}")
        padded = math.ceil(n / PAD_TO) * PAD_TO
        extra = macs * ((padded / n) ** 2 - 1)
        notes.append(
            f"stage{i + 1}: attention GEMMs are {batch * windows * block.attn.num_heads} batched ({n} x {hd}) @ "
            f"({hd} x {n}) per q.k^T and p.v (N = {wh}x{ww} tokens, head_dim {hd}): {n} rows fill {fill} tiles; "
            f"padding windows to {padded} tokens would add {extra / 1e9:.3f} GMACs "
            f"(+{(padded / n) ** 2 - 1:.0%} on these GEMMs, +{extra / total:.1%} of the model)"
            if macs
            else f"stage{i + 1}: window {wh}x{ww} (N = {n}), head_dim {hd}: no batched attention GEMM counted "
            "(a fused kernel computes it)"
        )
    return notes
