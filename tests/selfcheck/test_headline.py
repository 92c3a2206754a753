"""The full-size GPU headline measurements, shrunk to run on CPU: they call the library the way the GPU run will
(slow: each compiles swin_t twice). The real setting (swin_s, 224, batch 64, CUDA) runs only on a GPU."""

from __future__ import annotations

import math

import pytest

from swinprof.selfcheck.headline import quantized_vs_bf16, throughput

TINY = dict(device="cpu", variant="swin_t", res=32, batch=1, warmup=1, iters=1)


@pytest.mark.slow
def test_throughput_eager_compiled_and_timm_when_importable():
    got = throughput(**TINY)
    assert {"eager", "eager fused", "compiled"} <= set(got)
    assert all(v["img_per_s"] > 0 for v in got.values())


@pytest.mark.slow
def test_quantized_vs_bf16_latency_and_sqnr():
    got = quantized_vs_bf16("int8-weight-only", **TINY)
    assert set(got["ms"]) == {"bf16", "int8-weight-only"} and got["linears"] > 0
    assert math.isfinite(got["sqnr_db"]) and got["sqnr_db"] > 10
