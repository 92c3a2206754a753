"""The runner: a failing path (injected through the registry) is one `failed` row with its traceback in the json
and exit code 1, while the other paths still run; time limits kill a command; CUDA-only paths skip on CPU."""

from __future__ import annotations

import json
import time

import pytest

from swinprof.cli.main import main
from swinprof.selfcheck.registry import Result, register, unregister
from swinprof.selfcheck.run_paths import execution_order, run_checks


@pytest.fixture
def injected():
    """Three test paths: one fine, one raising, one whose command fails (a real `swinprof` subprocess)."""

    @register("selftest ok", limit_s=60.0)
    def fine(ctx):
        return Result("all good", {"answer": 42})

    @register("selftest boom", limit_s=60.0)
    def boom(ctx):
        raise ValueError("planted failure\nsecond line stays out of the row")

    @register("selftest command", limit_s=120.0)
    def command(ctx):
        ctx.cli("profile", "no_such_variant")
        return Result("unreachable")

    yield
    for name in ("selftest ok", "selftest boom", "selftest command"):
        unregister(name)


def _rows(out_dir) -> dict[str, dict]:
    doc = json.loads((out_dir / "selfcheck-cpu.json").read_text())
    table = next(t for t in doc["tables"] if t["key"] == "paths")
    return {r["path"]: r for r in table["rows"]}


def test_a_failing_path_fails_alone_with_its_traceback(injected, tmp_path, capsys):
    code = main(["selfcheck", "--device", "cpu", "--quick", "--only", "selftest", "-o", str(tmp_path / "out"),
                 "--format", "json"])  # fmt: skip
    assert code == 1
    rows = _rows(tmp_path / "out")
    assert rows["selftest ok"]["status"] == "ok" and rows["selftest ok"]["result"] == "all good"
    assert rows["selftest ok"]["values"] == {"answer": 42}
    boom = rows["selftest boom"]
    assert boom["status"] == "failed" and boom["result"] == "ValueError: planted failure"
    assert "Traceback" in boom["traceback"] and "planted failure" in boom["traceback"]
    cmd = rows["selftest command"]
    assert cmd["status"] == "failed" and "exited 2" in cmd["result"] and "\n" not in cmd["result"]
    assert "unknown" in cmd["result"].lower() or "no_such_variant" in cmd["result"]
    assert "the command's stderr" in cmd["traceback"]
    md = (tmp_path / "out" / "selfcheck-cpu.md").read_text()
    assert "selftest boom" in md and "Traceback" not in md  # tracebacks live in the json only


def test_a_command_past_its_limit_is_killed_and_the_run_goes_on(tmp_path, capsys):
    @register("selftest slow", limit_s=4.0)
    def slow(ctx):
        ctx.cli("memory", "swinv2_t_w8", "--res", "256", "--batch", "8")  # tens of seconds on this machine
        return Result("unreachable")

    @register("selftest after", limit_s=10.0)
    def after(ctx):
        return Result("still ran")

    try:
        code = main(["selfcheck", "--only", "selftest slow,selftest after", "-o", str(tmp_path), "--format", "json"])
    finally:
        unregister("selftest slow")
        unregister("selftest after")
    rows = _rows(tmp_path)
    assert code == 1
    assert rows["selftest slow"]["status"] == "failed" and "did not finish within" in rows["selftest slow"]["result"]
    assert rows["selftest slow"]["seconds"] < 30
    assert rows["selftest after"]["status"] == "ok"


def test_cuda_only_paths_are_skipped_on_cpu_with_their_reason(tmp_path, capsys):
    only = "recipe fp8-dynamic,recipe tensorrt-fp16,attention sdpa bf16,headline"
    assert main(["selfcheck", "--only", only, "-o", str(tmp_path), "--format", "json"]) == 0
    rows = _rows(tmp_path)
    assert {r["status"] for r in rows.values()} == {"skipped"}
    assert rows["recipe fp8-dynamic"]["result"] == "needs CUDA"
    assert rows["headline swin_s bf16 throughput"]["result"] == "needs CUDA"


def test_paths_sharing_a_run_in_parallel_run_it_once():
    calls = []

    def make():
        time.sleep(0.3)  # long enough for the second worker to arrive while the first is inside
        calls.append(1)
        return "shared result"

    for name in ("selftest share a", "selftest share b"):
        register(name, limit_s=10.0, shares="selftest")(lambda ctx: Result(ctx.cached("selftest", make)))
    try:
        outcomes = run_checks("cpu", quick=True, only=["selftest share"], jobs=2)
    finally:
        unregister("selftest share a")
        unregister("selftest share b")
    assert [o.result for o in outcomes] == ["shared result", "shared result"] and len(calls) == 1


def test_full_size_paths_run_alone_before_the_small_ones():
    spans: dict[str, tuple[float, float]] = {}

    def timed(name):
        def fn(ctx):
            start = time.monotonic()
            time.sleep(0.2)
            spans[name] = (start, time.monotonic())
            return Result(name)

        return fn

    names = ("selftest alone 1", "selftest alone 2", "selftest small 1", "selftest small 2")
    for name in names:
        register(name, limit_s=10.0, full_only="alone" in name)(timed(name))
    try:
        outcomes = run_checks("cpu", quick=False, only=["selftest alone", "selftest small"], jobs=4)
    finally:
        for name in names:
            unregister(name)
    assert [o.status for o in outcomes] == ["ok"] * 4
    (a1s, a1e), (a2s, a2e) = spans["selftest alone 1"], spans["selftest alone 2"]
    assert a1e <= a2s or a2e <= a1s, "the full-size paths overlapped"
    small_start = min(spans["selftest small 1"][0], spans["selftest small 2"][0])
    assert max(a1e, a2e) <= small_start, "a small path started while a full-size one ran"
    overlap = min(spans["selftest small 1"][1], spans["selftest small 2"][1]) - small_start
    assert overlap > 0, "the small paths did not run in parallel (jobs=4)"


def test_execution_order_starts_shared_runs_before_their_readers():
    from swinprof.selfcheck.registry import Check

    def check(name, shares="", full_only=False):
        return Check(name, lambda ctx: Result(""), ("cpu",), (), {"cpu": 1.0}, full_only, "", shares)

    checks = [check("a1", "a"), check("a2", "a"), check("b1", "b"), check("solo"), check("head", full_only=True)]
    assert execution_order(checks, quick=False) == [4, 0, 2, 3, 1]
    assert execution_order(checks, quick=True) == [0, 2, 3, 4, 1]


def test_execution_order_starts_the_longest_paths_first_on_the_device_at_hand():
    from swinprof.selfcheck.registry import Check

    def check(name, limits):
        return Check(name, lambda ctx: Result(""), ("cpu", "cuda"), (), limits)

    checks = [check("short", {"cpu": 60.0, "cuda": 60.0}), check("compile", {"cpu": 1500.0, "cuda": 30.0}),
              check("medium", {"cpu": 300.0, "cuda": 300.0})]  # fmt: skip
    assert execution_order(checks, quick=True, device="cpu") == [1, 2, 0]
    assert execution_order(checks, quick=True, device="cuda") == [2, 0, 1]


def test_a_library_call_that_fails_in_its_child_keeps_the_childs_traceback():
    @register("selftest call", limit_s=120.0)
    def call(ctx):
        ctx.call("swinprof.selfcheck.headline:guarded", {"target": "json:loads", "s": "{not json"})
        return Result("unreachable")

    try:
        (outcome,) = run_checks("cpu", quick=True, only=["selftest call"])
    finally:
        unregister("selftest call")
    assert outcome.status == "failed" and outcome.result.startswith("JSONDecodeError: Expecting property name")
    assert "json/decoder.py" in outcome.traceback  # the child's own frames, not only the parent's
