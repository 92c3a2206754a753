"""Classify images: preprocessing, forward, softmax, top-k (the post-processing step of DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from swinprof.evaluate.labels import imagenet_class_names
from swinprof.models.preprocess import EvalTransform, load_image


@torch.inference_mode()
def topk_probabilities(model: nn.Module, batch: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """`(B, 3, H, W)` -> `(probs, indices)`, each `(B, k)`, from softmax over the logits."""
    model.eval()
    probs = model(batch).float().softmax(dim=-1)
    k = min(k, probs.shape[-1])
    return probs.topk(k, dim=-1)


def predict_images(
    model: nn.Module, paths: Sequence[str | os.PathLike], transform: EvalTransform, k: int = 5, batch_size: int = 16
) -> pd.DataFrame:
    """Top-k classes per image: columns `image, rank, class, label, probability`.

    Images are read, preprocessed and classified `batch_size` at a time, so memory stays bounded by the batch
    whatever the number of images.
    """
    device = next(model.parameters()).device
    names = imagenet_class_names() if getattr(model, "head", None) is not None else []
    rows = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        batch = torch.stack([transform(load_image(p)) for p in chunk]).to(device)
        probs, indices = topk_probabilities(model, batch, k)
        for path, p_row, i_row in zip(chunk, probs.tolist(), indices.tolist()):
            for rank, (p, i) in enumerate(zip(p_row, i_row), start=1):
                label = names[i] if len(names) == 1000 and i < 1000 else str(i)
                rows.append({"image": os.path.basename(path), "rank": rank, "class": i, "label": label,
                             "probability": p})  # fmt: skip
    return pd.DataFrame(rows)
