"""The runtime-gap study: both sides profiled on the same tiny model, op times land in the right categories."""

from __future__ import annotations

import math

import pytest
import torch

from swinprof.studies.runtime_gap import ATTENTION, CATEGORIES, CONV, GEMM, OTHER, runtime_gap, torch_op_times
from tests.optimize.tiny import tiny_model

pytest.importorskip("openvino", reason="needs the [openvino] extra")


def test_a_linear_is_a_gemm_and_a_softmax_is_attention():
    x, w = torch.randn(64, 32), torch.randn(48, 32)
    with torch.inference_mode():
        linear = torch_op_times(lambda: torch.nn.functional.linear(x, w))
        softmax = torch_op_times(lambda: torch.softmax(x, -1))
    assert linear[GEMM] > 0 and linear[ATTENTION] == 0
    assert softmax[ATTENTION] > 0 and softmax[GEMM] == 0


def test_eager_against_openvino_on_a_tiny_model():
    model = tiny_model(depths=(2, 1), num_heads=(1, 2), img_size=32, attn_impl="fused")
    gap = runtime_gap(model, "swin_t", batch=2, compiled=False, rounds=2, warmup=1)
    assert gap.ours == "eager (fused attn)" and gap.res == 32
    for side in (gap.ours, "openvino-fp32"):
        times = gap.profiled[side]
        assert set(times) == set(CATEGORIES)
        assert times[GEMM] > 0 and times[ATTENTION] > 0 and times[CONV] > 0 and times[OTHER] > 0, side
    frame = gap.frame()
    assert list(frame.category) == [*CATEGORIES, "total (profiled calls)"]
    total = frame.iloc[-1]
    assert math.isclose(total["difference ms"], frame["difference ms"].iloc[:-1].sum(), rel_tol=1e-9)
    latency = gap.latency_frame()
    assert list(latency.path) == ["eager (fused attn)", "openvino-fp32"] and (latency.samples == 2).all()
    assert (latency["profiled / unprofiled"] > 0).all()
    report = gap.report()
    assert [t.key for t in report.tables] == ["latency", "categories"]
    assert any("PERF_COUNT" in n for n in report.table("categories").notes)


def test_unequal_profiler_overheads_are_a_warning():
    from swinprof.measure.timing import Timing
    from swinprof.studies.runtime_gap import RuntimeGap

    def side(total):
        return {c: (total if c == GEMM else 0.0) for c in CATEGORIES}

    timings = {"eager (fused attn)": Timing([100.0]), "openvino-fp32": Timing([80.0])}
    gap = RuntimeGap("swin_t", 224, 8, "eager (fused attn)", timings,
                     {"eager (fused attn)": side(110.0), "openvino-fp32": side(88.0)}, 1, {}, None)  # fmt: skip
    assert gap.overhead_warning() == []  # both 1.10x
    gap.profiled["openvino-fp32"] = side(104.0)  # 1.30x against 1.10x
    assert "slowed the two sides unequally (swinprof 1.10x, OpenVINO 1.30x" in gap.overhead_warning()[0]
    gap.profiled = {"eager (fused attn)": side(130.0), "openvino-fp32": side(88.0)}  # the other side slowed more
    assert "(swinprof 1.30x, OpenVINO 1.10x" in gap.overhead_warning()[0]
