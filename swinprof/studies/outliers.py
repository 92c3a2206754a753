"""Activation outliers of a network, and a way to plant them.

Trained ViTs and Swins carry a few LayerNorm-output channels whose magnitude is tens of times the rest (the
reason per-tensor min-max int8 loses several points of top-1 on them). `layernorm_outliers` measures it the usual
way: for every LayerNorm, the per-channel max|x| over all tokens of all images, and the ratio of the largest
channel to the median channel.

A small network trained for a few minutes need not show them. `plant_outlier_channels` makes a model that does,
with the same fp32 function: at a LayerNorm that feeds only Linear layers (`norm1` -> attention qkv, `norm2` ->
MLP fc1), multiply the affine weight and bias of a few channels by `factor` and divide the matching input columns
of the consuming Linear by it. LayerNorm(x)[c] * factor * W[:, c] / factor is the same product, so logits agree to
float rounding, but the activation between them now has `factor`-times-larger channels: what a per-tensor int8
activation quantizer sees in a trained ViT (the "outlier channel" structure of LLM.int8 / SmoothQuant, applied in
reverse).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn


@dataclass(frozen=True)
class ChannelOutliers:
    """One LayerNorm: max|x| of its largest channel, of its median channel, their ratio, and the top channel."""

    layer: str
    channels: int
    max_abs: float
    median_abs: float
    ratio: float
    top_channel: int


def layernorm_outliers(model: nn.Module, x: torch.Tensor, batch: int = 128) -> list[ChannelOutliers]:
    """Per LayerNorm output (last dim = channels), over every token of the images `x` `(N, 3, H, W)`."""
    peaks: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(_module, _inputs, out):
            flat = out.detach().float().abs().reshape(-1, out.shape[-1]).amax(0)
            peaks[name] = torch.maximum(peaks[name], flat) if name in peaks else flat

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)]
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                model(x[i : i + batch])
    finally:
        for h in handles:
            h.remove()
    out = []
    for name, peak in peaks.items():
        median = peak.median().item()
        out.append(ChannelOutliers(name, peak.numel(), peak.max().item(), median,
                                   peak.max().item() / median if median > 0 else float("inf"),
                                   int(peak.argmax())))  # fmt: skip
    return out


def outlier_frame(rows: list[ChannelOutliers]) -> pd.DataFrame:
    return pd.DataFrame([vars(r) for r in rows]).rename(columns={
        "max_abs": "max |x| (largest channel)", "median_abs": "median channel max |x|", "ratio": "max / median",
        "top_channel": "largest channel"})  # fmt: skip


def _consumer(model: nn.Module, norm_name: str) -> nn.Linear | None:
    """The Linear that reads a block's norm1 (attention qkv) or norm2 (MLP fc1) and nothing else."""
    block_name, _, which = norm_name.rpartition(".")
    block = model.get_submodule(block_name) if block_name else model
    if which == "norm1" and hasattr(block, "attn"):
        return block.attn.qkv
    if which == "norm2" and hasattr(block, "mlp"):
        return block.mlp.fc1
    return None


def plantable(model: nn.Module) -> list[str]:
    """LayerNorms whose output feeds only one Linear (v1 blocks: pre-norms): where planting keeps the function."""
    return [n for n, m in model.named_modules()
            if isinstance(m, nn.LayerNorm) and n.endswith(("norm1", "norm2")) and _consumer(model, n) is not None
            and _is_pre_norm(model, n)]  # fmt: skip


def _is_pre_norm(model: nn.Module, norm_name: str) -> bool:
    """v2 blocks normalise after attention/MLP (res-post-norm): their norms feed the residual, not a Linear."""
    block = model.get_submodule(norm_name.rpartition(".")[0])
    return getattr(block, "version", 1) == 1


@torch.no_grad()
def plant_outlier_channels(model: nn.Module, factor: float = 30.0, channels: int = 2, layers=None) -> list[str]:
    """Scale `channels` channels of each plantable LayerNorm (or of `layers`) by `factor`, and the consuming
    Linear's input columns by 1/factor, in place. The channels are those with the largest |LayerNorm weight|
    (already the strongest), so the choice is deterministic. Returns the LayerNorms changed."""
    names = list(layers) if layers is not None else plantable(model)
    for name in names:
        norm, linear = model.get_submodule(name), _consumer(model, name)
        top = norm.weight.abs().topk(channels).indices
        norm.weight[top] *= factor
        norm.bias[top] *= factor
        linear.weight[:, top] /= factor
    return names
