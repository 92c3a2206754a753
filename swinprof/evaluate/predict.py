"""Classify images: preprocessing, forward, softmax, top-k (the post-processing step of DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from swinprof.evaluate.labels import imagenet_class_names
from swinprof.evaluate.preprocess import EvalTransform, load_image


@torch.inference_mode()
def topk_probabilities(model: nn.Module, batch: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """`(B, 3, H, W)` -> `(probs, indices)`, each `(B, k)`, from softmax over the logits."""
    model.eval()
    probs = model(batch).float().softmax(dim=-1)
    k = min(k, probs.shape[-1])
    return probs.topk(k, dim=-1)


def predict_images(
    model: nn.Module, paths: Sequence[str | os.PathLike], transform: EvalTransform, k: int = 5
) -> pd.DataFrame:
    """Top-k classes per image: columns `image, rank, class, label, probability`."""
    device = next(model.parameters()).device
    batch = torch.stack([transform(load_image(p)) for p in paths]).to(device)
    probs, indices = topk_probabilities(model, batch, k)
    names = imagenet_class_names() if getattr(model, "head", None) is not None else []
    rows = []
    for path, p_row, i_row in zip(paths, probs.tolist(), indices.tolist()):
        for rank, (p, i) in enumerate(zip(p_row, i_row), start=1):
            label = names[i] if len(names) == 1000 and i < 1000 else str(i)
            rows.append({"image": os.path.basename(path), "rank": rank, "class": i, "label": label, "probability": p})
    return pd.DataFrame(rows)
