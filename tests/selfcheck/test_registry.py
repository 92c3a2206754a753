"""The selfcheck registry: skip reasons are exact, decided before anything runs."""

from __future__ import annotations

import pytest

from swinprof.selfcheck.registry import Check, Result, all_checks, needs_module, not_on, register, unregister


def _check(**kw) -> Check:
    base = dict(name="x", fn=lambda ctx: Result("ok"), devices=("cpu", "cuda"), requires=(), limit_s={"cpu": 1.0})
    return Check(**{**base, **kw})


def test_cuda_only_path_on_cpu_says_needs_cuda():
    assert _check(devices=("cuda",)).skip_reason("cpu", quick=True) == "needs CUDA"
    assert _check(devices=("cuda",)).skip_reason("cpu", quick=False) == "needs CUDA"


def test_full_size_path_is_skipped_in_quick_mode_only():
    check = _check(full_only=True)
    assert "without --quick" in check.skip_reason("cpu", quick=True)
    assert check.skip_reason("cpu", quick=False) is None


def test_requirements_give_their_reason():
    missing = needs_module("swinprof_no_such_module_xyz", "torch_tensorrt not installed")
    assert _check(requires=(missing,)).skip_reason("cpu", quick=True) == "torch_tensorrt not installed"
    assert _check(requires=(needs_module("json"),)).skip_reason("cpu", quick=True) is None
    flex = _check(requires=(not_on("cpu", "no backward on CPU"),))
    assert flex.skip_reason("cpu", True) == "no backward on CPU"
    assert flex.skip_reason("cuda", True) is None


def test_builtin_paths_cover_every_area_and_names_are_unique():
    names = [c.name for c in all_checks()]
    assert len(names) == len(set(names))
    for prefix in ("profile", "attention reference fp32", "memory checkpointing", "memory sequential attention",
                   "memory zero-1", "evaluate sharded", "recipe compile-inductor", "recipe int8-dynamic",
                   "recipe fp8-dynamic", "recipe int8-x86-cpu", "recipe onnx-ort-int8", "recipe tensorrt-fp16",
                   "export onnx", "bench tiny suite", "regress tiny suite",
                   "headline swin_s bf16 throughput"):  # fmt: skip
        assert prefix in names


def test_fp8_and_tensorrt_reasons_on_cpu():
    by_name = {c.name: c for c in all_checks()}
    assert by_name["recipe fp8-dynamic"].skip_reason("cpu", True) == "needs CUDA"
    assert by_name["attention flex fp32"].skip_reason("cpu", True).startswith("FlexAttention has no backward on CPU")
    assert by_name["attention sdpa bf16"].skip_reason("cpu", True) == "needs CUDA"


def test_register_twice_is_an_error():
    register("selftest twice")(lambda ctx: Result("a"))
    try:
        with pytest.raises(ValueError, match="registered twice"):
            register("selftest twice")(lambda ctx: Result("b"))
    finally:
        unregister("selftest twice")
