"""Shared fixtures: tiny seeded configurations keep the suite fast on 2 CPU cores."""

from __future__ import annotations

import pytest
import torch

from swinprof.models import create_model

# A small v1/v2 architecture whose shapes exercise the same code paths as the full models:
# stage sides 32/16/8/4 with window 4 -> last stage clamps to window 4 with no shift (like 224/w7).
TINY = dict(img_size=128, embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 4), window_size=4, num_classes=10)


def tiny_model(name: str = "swin_t", seed: int = 0, **overrides) -> torch.nn.Module:
    """A seeded tiny model with weights perturbed away from their init (so biases/norms are not trivial)."""
    torch.manual_seed(seed)
    model = create_model(name, **{**TINY, **overrides}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` need a GPU: on a machine without one they are skipped, with that reason."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marker 'cuda'); torch sees none on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["swin_t", "swinv2_t_w8"], ids=["v1", "v2"])
def tiny(request) -> torch.nn.Module:
    return tiny_model(request.param)
