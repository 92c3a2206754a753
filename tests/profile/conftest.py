"""Tiny seeded Swin configurations for the profiler tests (fast on 2 CPU cores)."""

from __future__ import annotations

import pytest
import torch

from swinprof.models import create_model
from swinprof.profile.grouping import swin_stages

TINY = dict(img_size=64, embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)


def tiny_model(name: str = "swin_t", device: str | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, device=device, **TINY).eval()


def tiny_input(batch: int = 1, device: str = "cpu") -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, TINY["img_size"], TINY["img_size"], generator=gen).to(device)


@pytest.fixture(params=["swin_t", "swinv2_t_w8"], ids=["v1", "v2"])
def tiny(request):
    """(model, input, stages) of a tiny v1 or v2 network on the CPU."""
    model = tiny_model(request.param)
    return model, tiny_input(), swin_stages(model)


@pytest.fixture
def quiet_machine(monkeypatch):
    """Peak probes behave as on a quiet machine: small test GEMMs are trusted and cached (the caching rules
    under test do not depend on how fast this shared machine happens to be right now)."""
    from swinprof.measure import peaks

    monkeypatch.setattr(peaks, "machine_busy", lambda: (False, "load 0.0 on 2 cores"))
    monkeypatch.setattr(peaks, "IMPLAUSIBLE", 0.0)
