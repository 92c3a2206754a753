"""The run report says in words where OpenVINO beats swinprof's own paths, from the measured rows alone."""

from __future__ import annotations

import swinprof.optimize.methods as registry
from swinprof.optimize.methods import OTHER, MethodSpec, Quantized, RuntimeSpec, methods, runtimes
from swinprof.studies.faster_runtimes import runtime_gaps


def _row(recipe, method, runtime, batch, ms, sqnr=float("inf")):
    return {"recipe": recipe, "method": method, "runtime": runtime, "batch": batch, "median_ms": ms, "sqnr_db": sqnr}


ROWS = [
    _row("fp32-eager", "none", "pytorch", 1, 140.8),
    _row("compile-inductor", "none", "pytorch", 1, 120.0),
    _row("openvino-fp32", "none", "openvino", 1, 102.1, 123.0),
    _row("int8-x86-cpu", "pt2e-int8-x86", "pytorch", 1, 52.3, 34.4),
    _row("onnx-ort-int8", "ort-int8-static", "onnxruntime", 1, 55.9, 32.2),
    _row("openvino-int8", "nncf-int8", "openvino", 1, 40.6, 32.0),
    _row("fp32-eager", "none", "pytorch", 8, 1000.0),
    _row("openvino-fp32", "none", "openvino", 8, 980.0, 123.0),  # within 5%: no line
]


def test_each_gap_is_one_line_against_the_fastest_own_path():
    lines = runtime_gaps(ROWS, {"openvino-fp32": "fp32", "openvino-int8": "fp32"})
    assert lines == [
        "openvino-fp32 is 1.18x faster than the fastest PyTorch fp32 path here at batch 1 "
        "(compile-inductor: 120.0 ms vs 102.1 ms)",
        "openvino-int8 is 1.29x faster than the fastest swinprof int8 path (PyTorch, ONNX Runtime) here at batch 1 "
        "(int8-x86-cpu: 52.3 ms vs 40.6 ms; SQNR 34.4 dB vs 32.0 dB)",
    ]


def test_an_fp32_line_names_the_command_that_profiles_the_gap():
    fp32, int8 = runtime_gaps(ROWS, {"openvino-int8": "fp32"}, model="swin_s")
    assert fp32.endswith("(compile-inductor: 120.0 ms vs 102.1 ms); where the time goes: swinprof gap swin_s --batch 1")
    assert "swinprof gap" not in int8  # the gap profile compares fp32 paths only


def test_no_line_where_swinprof_is_as_fast_or_nothing_to_compare():
    faster = [_row("compile-inductor", "none", "pytorch", 1, 99.0), _row("openvino-fp32", "none", "openvino", 1, 102.1)]
    assert runtime_gaps(faster, {}) == []
    assert runtime_gaps([r for r in ROWS if r["runtime"] != "openvino"], {}) == []
    bf16 = [_row("openvino-bf16", "none", "openvino", 1, 50.0), _row("fp32-eager", "none", "pytorch", 1, 140.8)]
    assert runtime_gaps(bf16, {"openvino-bf16": "bf16"}) == []  # bf16 is not compared with fp32


def test_which_runtimes_are_compared_comes_from_their_registration(monkeypatch):
    """A runtime registered as a deployment runtime (gap role OTHER) with an int8 method is compared with
    swinprof's int8 paths without naming it anywhere else; its method's name says nothing about int8."""
    monkeypatch.setattr(registry, "_RUNTIMES", dict(runtimes()))
    monkeypatch.setattr(registry, "_METHODS", dict(methods()))
    registry.register_runtime("edge-rt", RuntimeSpec(("cpu",), title="Edge", gap_role={"int8": OTHER}))(None)
    registry.register_method("edge-q", MethodSpec("edge-rt", ("cpu",), kind="int8"))(lambda job: Quantized(job.work))
    rows = [*ROWS[:6], _row("edge-q8", "edge-q", "edge-rt", 1, 26.0, 30.0)]
    assert runtime_gaps(rows, {"openvino-fp32": "fp32", "openvino-int8": "fp32"})[-1] == (
        "edge-q8 is 2.01x faster than the fastest swinprof int8 path (PyTorch, ONNX Runtime) here at batch 1 "
        "(int8-x86-cpu: 52.3 ms vs 26.0 ms; SQNR 34.4 dB vs 30.0 dB)"
    )
