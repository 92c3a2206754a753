"""The attention working set of one block, batched vs sequential (what `set_sequential_attention` buys).

Runs one block's window attention forward + backward (training) or forward under `torch.inference_mode()`
(`backward=False`) on a `(B, H, W, C)` input of the stage's shape and records, with the tensor-peak meter
(`TensorPeak`), the peak bytes above the inputs and the peak bytes of score-shaped tensors `(..., heads, N, N)`.
Batched, all `B*nW` windows' scores are alive together; in `chunks` groups, one group's. Expected factor for
the scores: `B*nW / ceil(B*nW / chunks)` (= chunks when it divides).
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from swinprof.errors import MemoryOptionError
from swinprof.measure.memory import TensorPeak, score_classifier
from swinprof.models.swin import SwinTransformer
from swinprof.optimize.memory_options import MIB


def _probe(block, x: torch.Tensor, grad: torch.Tensor | None, chunks: int) -> tuple[int, int]:
    """(peak bytes above start, peak score bytes) of `block.window_attention`: forward + backward with `grad`
    `(B, H, W, C)`, forward under inference_mode without."""
    saved = block.attn_chunks
    block.attn_chunks = chunks
    tokens = block.window[0] * block.window[1]
    tracker = TensorPeak(score_classifier({tokens}))
    try:
        with tracker:
            start = tracker.current
            if grad is None:
                with torch.inference_mode():
                    block.window_attention(x)
            else:
                block.window_attention(x).backward(grad)
    finally:
        block.attn_chunks = saved
        block.zero_grad(set_to_none=True)
        x.grad = None
    return tracker.peak - start, tracker.tag_peak.get("scores", 0)


def attention_peak_frame(
    model: SwinTransformer, stage: int, batch: int, res: int, chunks: int, device: torch.device, backward: bool = True
) -> pd.DataFrame:
    """Rows batched / sequential for the shifted block of `stage` (0-based); measured and expected factors.

    `backward`: forward + backward (training); False: one forward under inference_mode.
    """
    if not 0 <= stage < len(model.layers):
        raise MemoryOptionError(f"stage {stage + 1} does not exist: this model has stages 1..{len(model.layers)}")
    blocks = model.layers[stage].blocks
    block = blocks[1] if len(blocks) > 1 else blocks[0]
    side = model.config.stage_resolution(stage, res)
    dim = model.config.embed_dim * 2**stage
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, side, side, dim, generator=g).to(device).requires_grad_(backward)
    grad = torch.randn(batch, side, side, dim, generator=g).to(device) if backward else None
    total = batch * math.ceil(side / block.window[0]) * math.ceil(side / block.window[1])
    expected = total / math.ceil(total / min(chunks, total))
    work1, scores1 = _probe(block, x, grad, 1)
    workc, scoresc = _probe(block, x, grad, chunks)
    shape = f"({batch}, {side}, {side}, {dim}), window {block.window}, shift {block.shift}"
    rows = [
        {
            "attention": "batched",
            "chunks": 1,
            "scores peak (MiB)": scores1 / MIB,
            "working set peak (MiB)": work1 / MIB,
        },
        {
            "attention": "sequential",
            "chunks": chunks,
            "scores peak (MiB)": scoresc / MIB,
            "working set peak (MiB)": workc / MIB,
        },
    ]
    df = pd.DataFrame(rows)
    df["scores factor (measured)"] = [1.0, scores1 / scoresc if scoresc else float("nan")]
    df["scores factor (expected)"] = [1.0, expected]
    df["working set factor"] = [1.0, work1 / workc if workc else float("nan")]
    df.attrs["input"] = f"stage {stage + 1} block: input {shape}, {total} windows"
    return df
