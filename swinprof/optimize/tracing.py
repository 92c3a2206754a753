"""Guards for tracing (torch.export, ONNX export, TensorRT) of the eager model."""

from __future__ import annotations

import torch
from torch import nn


def warm_eager_caches(model: nn.Module, example: torch.Tensor) -> None:
    """One real eager forward at the traced resolution before any export.

    `swinprof.models.windows` memoises shift masks with `functools.lru_cache`; if the first call for a shape
    happened under torch.export's fake-tensor tracing, a FakeTensor would be cached and every later eager
    forward would compute on fake tensors. A real call first fills the cache with real masks.
    """
    with torch.no_grad():
        model(example[:1])
