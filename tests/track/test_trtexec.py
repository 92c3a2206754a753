"""trtexec's exported files (written here to its documented schema: TensorRT samples/common/sampleReporting.cpp)
become a results file that regress and history read: unchanged against a rerun, a regression against a planted
slowdown; the report lists the per-layer times slowest first."""

from __future__ import annotations

import json
import random

import pytest

from swinprof.cli.main import main
from swinprof.errors import ResultsError
from swinprof.measure.stats import REGRESSION, UNCHANGED
from swinprof.measure.timing import Timing
from swinprof.track.regress import compare_results
from swinprof.track.results import load_results
from swinprof.track.trtexec import read_log, read_profile, read_run, read_times, summary, tensorrt_version

LOG = """&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=swin_t.int8.onnx --stronglyTyped
[12/03/2026-10:32:46] [I] === Model Options ===
[12/03/2026-10:32:46] [I] Model: swin_t.int8.onnx
[12/03/2026-10:32:46] [I] Precision: FP32 (Strongly Typed)
[12/03/2026-10:32:47] [I] === Device Information ===
[12/03/2026-10:32:47] [I] Selected Device: Orin
[12/03/2026-10:32:47] [I] Compute Capability: 8.7
[12/03/2026-10:33:40] [I] Throughput: 412.3 qps
"""
LAYERS = [("patch_embed conv", 0.11), ("qkv int8 gemm", 0.42), ("softmax", 0.07), ("fc1 int8 gemm", 0.63)]


def _trace(seed: int, slowdown: float, n: int, legacy: bool, warmup_ms: float = 200.0) -> list[dict]:
    """trtexec's trace: times in ms from the start of inference; the first `warmup_ms` are warm-ups (slow, 9 ms),
    which TensorRT 8 before 8.6 (`legacy`) exported too and later versions skip. Then `n` timed inferences."""
    rng = random.Random(seed)
    times, t, timed = [], 0.0, 0
    while timed < n:
        warm = t < warmup_ms
        timed += not warm
        compute = (9.0 if warm else 2.4 * slowdown) * (1 + 0.02 * rng.gauss(0, 1))
        h2d, d2h = 0.05, 0.01
        rec = {"startEnqMs": t, "endEnqMs": t + 0.2, "startH2dMs": t, "endH2dMs": t + h2d,
               "startComputeMs": t + h2d, "endComputeMs": t + h2d + compute, "startD2hMs": t + h2d + compute,
               "endD2hMs": t + h2d + compute + d2h, "h2dMs": h2d, "computeMs": compute, "d2hMs": d2h,
               "latencyMs": h2d + compute + d2h}  # fmt: skip
        if legacy:
            rec["endToEndMs"] = rec["latencyMs"]
        if legacy or not warm:
            times.append(rec)
        t += compute + 0.1
    return times


def _write_run(folder, seed: int, slowdown: float = 1.0, n: int = 200, legacy: bool = False, log: str = LOG):
    """times/profile/log of one trtexec run; compute times ~2.4 ms with 2% noise, times `slowdown`."""
    folder.mkdir(parents=True, exist_ok=True)
    times = _trace(seed, slowdown, n, legacy)
    total = sum(ms for _, ms in LAYERS)
    profile = [{"count": 50}] + [
        {"name": name, "timeMs": ms * 50, "averageMs": ms, "medianMs": ms, "percentage": 100 * ms / total}
        for name, ms in LAYERS
    ]
    (folder / "times.json").write_text(json.dumps(times))
    (folder / "profile.json").write_text(json.dumps(profile))
    (folder / "trtexec.log").write_text(log)
    return folder


def _import(folder, capsys=None) -> str:
    args = ["import-trtexec", "--times", str(folder / "times.json"), "--profile", str(folder / "profile.json"),
            "--log", str(folder / "trtexec.log"), "--case", "swin_t-int8-b1", "-o", str(folder / "results.json"),
            "--format", "csv"]  # fmt: skip
    assert main(args) == 0
    return str(folder / "results.json")


def test_a_rerun_is_unchanged_and_a_planted_slowdown_regresses(tmp_path, capsys):
    base = load_results(_import(_write_run(tmp_path / "base", seed=1)))
    same = load_results(_import(_write_run(tmp_path / "same", seed=2)))
    slow = load_results(_import(_write_run(tmp_path / "slow", seed=3, slowdown=1.15)))
    assert base.case("swin_t-int8-b1").samples_ms == [r["computeMs"] for r in read_times(tmp_path / "base/times.json")]
    assert base.suite["device"] == "Orin" and base.environment["tensorrt"] == "10.3.0"
    assert compare_results(base, same).verdict == UNCHANGED
    slower = compare_results(base, slow)
    assert slower.verdict == REGRESSION and slower.cases[0].new_median_ms == pytest.approx(2.4 * 1.15, rel=0.01)
    assert any("no calibration samples" in w for w in slower.warnings)  # raw ms on the device, and it says so
    capsys.readouterr()
    assert main(["regress", _import(tmp_path / "base"), _import(tmp_path / "slow"), "--format", "csv"]) == 1
    assert main(["regress", _import(tmp_path / "base"), _import(tmp_path / "same"), "--format", "csv"]) == 0


def test_history_takes_the_imported_results(tmp_path, capsys):
    store = tmp_path / "history.jsonl"
    for seed in (1, 2):
        path = _import(_write_run(tmp_path / f"run{seed}", seed=seed))
        assert main(["history", "add", path, "--store", str(store)]) == 0
    assert len(store.read_text().splitlines()) == 2
    assert main(["history", "show", "--store", str(store), "--format", "csv"]) == 0


def test_the_report_lists_layers_slowest_first(tmp_path, capsys):
    _import(_write_run(tmp_path / "run", seed=1), capsys)
    out = capsys.readouterr().out
    layer_lines = [line for line in out.splitlines() if "gemm" in line or "softmax" in line or "conv" in line]
    assert [line.split(",")[0] for line in layer_lines] == ["fc1 int8 gemm", "qkv int8 gemm", "patch_embed conv",
                                                            "softmax"]  # fmt: skip


def test_log_profile_and_the_legacy_times_layout(tmp_path):
    folder = _write_run(tmp_path / "old", seed=4, legacy=True, n=12)
    assert len(read_times(folder / "times.json")) > 12  # TensorRT 8.x's extra endToEndMs is accepted, warm-ups too
    count, layers = read_profile(folder / "profile.json")
    assert count == 50 and [layer["name"] for layer in layers] == [name for name, _ in LAYERS]
    log = read_log(folder / "trtexec.log")
    assert log["device"] == "Orin" and log["compute_capability"] == "8.7" and log["model_file"] == "swin_t.int8.onnx"
    assert log["command"].startswith("trtexec --onnx=swin_t.int8.onnx") and tensorrt_version("110002") == "11.0.2"


@pytest.mark.parametrize("content, says", [('{"computeMs": 1}', "non-empty list"),
                                           ('[{"computeMs": 0, "latencyMs": 1}]', "computeMs"),
                                           ('[{"computeMs": 1}]', "latencyMs")])  # fmt: skip
def test_a_bad_times_file_is_one_line(tmp_path, capsys, content, says):
    bad = tmp_path / "times.json"
    bad.write_text(content)
    with pytest.raises(ResultsError, match=says):
        read_times(bad)
    assert main(["import-trtexec", "--times", str(bad), "-o", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "r.json").exists() and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(("banner", "version"), [
    # real banners: TensorRT 8 encodes major x 1000 + minor x 100 + patch; 10 and 11 major x 10000 + ...,
    # with a build tag after it
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --loadEngine=a.engine", "8.6.1"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v8205] # trtexec --loadEngine=a.engine", "8.2.5"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v8412] # trtexec --onnx=a.onnx --int8", "8.4.12"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v100600] [b26] # trtexec --onnx=a.onnx", "10.6.0"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v101602] [b10] # trtexec --onnx=a.onnx", "10.16.2"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b3] # trtexec --onnx=a.onnx --stronglyTyped", "11.1.0"),
])  # fmt: skip
def test_the_tensorrt_version_of_8_10_and_11_banners(tmp_path, banner, version):
    log = tmp_path / "trtexec.log"
    log.write_text(banner + "\n[12/03/2026-10:32:47] [I] Selected Device: Orin\n")
    found = read_log(log)
    assert found["tensorrt"] == version and found["command"].startswith("trtexec --")
    log.write_text(banner + "\n[08/31/2025-21:07:08] [I] TensorRT version: 8.6.1\n")  # the log's own line wins
    assert read_log(log)["tensorrt"] == "8.6.1"


TRT8_LOG = """&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec --loadEngine=swin_t.engine --exportTimes=t.json
[08/31/2025-21:07:07] [I] === Inference Options ===
[08/31/2025-21:07:07] [I] Duration: 3s (+ 200ms warm up)
[08/31/2025-21:07:08] [I] Selected Device: Tesla T4
[08/31/2025-21:07:11] [I] Warmup completed {warmups} queries over 200 ms
[08/31/2025-21:07:11] [I] Timing trace has 200 queries over 0.5 s
"""


def test_tensorrt_8_warm_ups_are_not_timed_samples(tmp_path):
    legacy = _trace(seed=5, slowdown=1.0, n=200, legacy=True)
    warmups = sum(t["startComputeMs"] < 200 for t in legacy)
    assert warmups > 10 and len(legacy) == 200 + warmups
    folder = tmp_path / "trt8"
    folder.mkdir()
    (folder / "times.json").write_text(json.dumps(legacy))
    (folder / "trtexec.log").write_text(TRT8_LOG.format(warmups=warmups))
    for log in (folder / "trtexec.log", None):  # the log's 200 ms, or trtexec's default for a legacy file alone
        run = read_run(folder / "times.json", log=log)
        assert len(run.times) == 200 and run.warmups_dropped == warmups
        assert max(run.samples()) < 3.0  # the 9 ms warm-ups are gone
        assert f"{warmups} of {200 + warmups} inferences dropped" in run.warmup_note
    assert "trtexec's default 200 ms (no log)" in read_run(folder / "times.json").warmup_note
    modern = folder / "modern.json"
    modern.write_text(json.dumps(_trace(seed=5, slowdown=1.0, n=200, legacy=False)))
    assert len(read_run(modern).times) == 200 and read_run(modern).warmups_dropped == 0


def test_the_warm_up_duration_comes_from_the_command_when_the_log_states_it(tmp_path):
    times = _trace(seed=6, slowdown=1.0, n=100, legacy=True, warmup_ms=500.0)
    (tmp_path / "times.json").write_text(json.dumps(times))
    (tmp_path / "trtexec.log").write_text("&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --warmUp=500\n")
    run = read_run(tmp_path / "times.json", log=tmp_path / "trtexec.log")
    assert len(run.times) == 100 and "the log's 500 ms" in run.warmup_note
    (tmp_path / "all.json").write_text(json.dumps([t for t in times if t["startComputeMs"] < 500]))
    with pytest.raises(ResultsError, match="every inference started within the 500 ms warm-up"):
        read_run(tmp_path / "all.json", log=tmp_path / "trtexec.log")


def test_p99_follows_the_one_percentile_rule(tmp_path):
    times = _trace(seed=7, slowdown=1.0, n=50, legacy=False)
    for i, t in enumerate(times):
        t["computeMs"] = float(i + 1)  # 1 .. 50 ms
    (tmp_path / "times.json").write_text(json.dumps(times))
    s = summary(read_run(tmp_path / "times.json"))
    # linear interpolation (measure.stats.percentile, as measure.timing.Timing uses): 49 + 0.51, not the maximum
    assert s["compute p99 ms"] == pytest.approx(49.51) == Timing([float(i + 1) for i in range(50)]).percentile(99)
