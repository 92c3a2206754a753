import math

import pandas as pd
import pytest
import torch

from swinprof.measure.memory import TENSOR_PEAK
from swinprof.measure.peaks import compute_ceiling
from swinprof.profile.grouping import swin_stages
from swinprof.profile.macs import count_costs
from swinprof.profile.stages import stage_table, time_stages

from .conftest import tiny_input, tiny_model


def test_timed_stage_table(tmp_path):
    model, x = tiny_model(), tiny_input()
    stages = swin_stages(model)
    calls = []
    timings = time_stages(model, x, stages, warmup=1, iters=3, on_iter=lambda: calls.append(1))
    assert len(calls) == 3 * len(stages)
    assert list(timings.timings) == [s.name for s in stages]
    assert all(len(t.samples_ms) == 3 and t.min > 0 for t in timings.timings.values())
    assert timings.total.samples_ms[0] == pytest.approx(sum(t.samples_ms[0] for t in timings.timings.values()))
    peak = compute_ceiling("cpu", x.dtype, tmp_path / "peak.json", n=128)
    trace = count_costs(model, x, stages)
    df = stage_table(trace, timings, peak)
    body, total = df.iloc[:-1], df.iloc[-1]
    assert total["stage"] == "total" and len(body) == len(stages)
    assert body["MACs"].sum() == total["MACs"] == trace.total_macs
    assert body["params"].sum() == total["params"] == sum(p.numel() for p in model.parameters())
    assert body["MACs %"].sum() == pytest.approx(100.0)
    assert body["time %"].sum() == pytest.approx(100.0)
    assert (body["p90 (ms)"] >= body["median (ms)"]).all()
    heavy = body[body["MACs"] > 0]
    expected = 2 * heavy["MACs"] / (heavy["median (ms)"] / 1e3) / 1e9
    assert heavy["GFLOP/s"].tolist() == pytest.approx(expected.tolist())
    assert heavy["% of peak"].tolist() == pytest.approx((100 * heavy["GFLOP/s"] / peak.gflops).tolist())
    assert df.attrs["memory_method"] == TENSOR_PEAK
    assert (body["tensor peak (MiB)"] > 0).all()


def test_untimed_table_has_blank_latency(tiny):
    model, x, stages = tiny
    df = stage_table(count_costs(model, x, stages))
    assert df["median (ms)"].isna().all() and df["MACs"].iloc[-1] == df["MACs"].iloc[:-1].sum()
    assert pd.api.types.is_integer_dtype(df["MACs"])


def test_gemm_peak_is_cached_per_machine(tmp_path, quiet_machine):
    path = tmp_path / "cache" / "peak.json"
    first = compute_ceiling("cpu", cache_path=path, n=128)
    assert not first.cached and path.exists() and first.gflops > 0 and math.isfinite(first.gflops)
    again = compute_ceiling("cpu", cache_path=path, n=128)
    assert again.cached and again.gflops == first.gflops and again.key == first.key
    fresh = compute_ceiling("cpu", cache_path=path, n=128, refresh=True)  # probes again; keeps the best
    assert fresh.gflops >= first.gflops and ("re-probe read lower" in fresh.how or not fresh.cached)


def test_bad_timing_arguments(tiny):
    model, x, stages = tiny
    with pytest.raises(ValueError):
        time_stages(model, x, stages, iters=0)


def test_bf16_halves_activation_bytes():
    model, x = tiny_model(), tiny_input()
    fp32 = count_costs(model, x, swin_stages(model))
    model16 = tiny_model().to(torch.bfloat16)
    bf16 = count_costs(model16, x.to(torch.bfloat16), swin_stages(model16))
    assert bf16.total_macs == fp32.total_macs
    # the shift masks stay float32, everything else halves
    assert 0.45 * fp32.tensor_peak_bytes <= bf16.tensor_peak_bytes <= 0.6 * fp32.tensor_peak_bytes
    timings = time_stages(model16, x.to(torch.bfloat16), swin_stages(model16), warmup=0, iters=1)
    assert timings.total.median > 0


def test_refresh_never_lowers_the_cached_peak(tmp_path, quiet_machine):
    import json

    path = tmp_path / "peak.json"
    first = compute_ceiling("cpu", cache_path=path, n=64)
    data = json.loads(path.read_text())
    data[first.key]["value"] = 1e9  # as if an earlier, better probe had stored this
    path.write_text(json.dumps(data))
    assert compute_ceiling("cpu", cache_path=path, n=64, refresh=True).gflops == 1e9


def test_a_busy_machine_probe_is_used_but_not_cached(tmp_path, monkeypatch, quiet_machine):
    """The old probe cached one run taken under load (31 GFLOP/s on a machine that reaches ~170)."""
    from swinprof.measure import peaks

    path = tmp_path / "peak.json"
    monkeypatch.setattr(peaks, "machine_busy", lambda: (True, "load 9.0 on 2 cores"))
    busy = compute_ceiling("cpu", cache_path=path, n=64)
    assert busy.busy and not busy.cached and "not cached" in busy.how and not path.exists()
    monkeypatch.setattr(peaks, "machine_busy", lambda: (False, "load 0.1 on 2 cores"))
    quiet = compute_ceiling("cpu", cache_path=path, n=64)
    assert not quiet.busy and path.exists() and compute_ceiling("cpu", cache_path=path, n=64).cached


def test_a_probe_far_below_the_theoretical_peak_is_not_cached(tmp_path, monkeypatch):
    from swinprof.measure import peaks

    monkeypatch.setattr(peaks, "machine_busy", lambda: (False, "load 0.0 on 2 cores"))
    monkeypatch.setattr(peaks, "theoretical_compute", lambda device, dtype: (1e9, "a machine that cannot be"))
    low = compute_ceiling("cpu", cache_path=tmp_path / "p.json", n=64)
    assert low.busy and "below 40% of theoretical" in low.how and not (tmp_path / "p.json").exists()


def test_theoretical_peak_is_reported_beside_the_probe(tmp_path):
    from swinprof.measure.peaks import bandwidth_ceiling

    c = compute_ceiling("cpu", cache_path=tmp_path / "p.json", n=64)
    if c.theoretical is not None:  # x86 with FMA and a clock in /proc/cpuinfo (this project's machines)
        assert "lanes" in c.theoretical_basis and c.theoretical > 1
    bw = bandwidth_ceiling("cpu", cache_path=tmp_path / "p.json")
    assert bw.unit == "GB/s" and bw.value > 0.1 and "triad" in bw.how
