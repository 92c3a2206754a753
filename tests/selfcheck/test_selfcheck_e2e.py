"""`swinprof selfcheck --quick` end to end, as a user runs it (a subprocess of `python -m swinprof`).

The CPU run takes minutes (cold inductor compiles of the 12-block swin_t dominate), so it is marked `slow` and
run by `.ci/run` as its own step rather than in the default test command. The CUDA run is marked `cuda`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swinprof.selfcheck.registry import all_checks


def _selfcheck(device: str, out) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "swinprof", "selfcheck", "--device", device, "--quick", "-o", str(out),
         "--format", "markdown"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    doc = json.loads((out / f"selfcheck-{device}.json").read_text())  # whole: it parses
    return proc, doc


def _assert_every_path_as_registered(device: str, doc: dict, out) -> None:
    rows = {r["path"]: r for r in next(t for t in doc["tables"] if t["key"] == "paths")["rows"]}
    checks = all_checks()
    assert set(rows) == {c.name for c in checks}
    for check in checks:
        row, reason = rows[check.name], check.skip_reason(device, quick=True)
        if reason is None:
            assert row["status"] == "ok", f"{check.name}: {row['result']}\n{row['traceback']}"
            assert row["result"] and "? (no" not in row["result"], f"{check.name}: a figure was not read"
        else:
            assert (row["status"], row["result"]) == ("skipped", reason)
    md = (out / f"selfcheck-{device}.md").read_text()
    assert md.startswith("# swinprof selfcheck") and "## Environment" in md
    assert all(f"| {name} |" in md for name in rows)


@pytest.mark.slow
def test_cpu_quick_every_cpu_path_ok_every_cuda_path_skipped(tmp_path):
    proc, doc = _selfcheck("cpu", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_every_path_as_registered("cpu", doc, tmp_path)
    rows = {r["path"]: r for r in doc["tables"][0]["rows"]}
    assert rows["recipe fp8-dynamic"]["result"] == "needs CUDA"
    assert rows["recipe tensorrt-fp16"]["result"] == "needs CUDA"
    assert rows["attention flex fp32"]["result"].startswith("FlexAttention has no backward on CPU")


@pytest.mark.cuda
def test_cuda_quick_every_cuda_path_ok(tmp_path):
    proc, doc = _selfcheck("cuda", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_every_path_as_registered("cuda", doc, tmp_path)
