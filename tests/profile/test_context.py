"""What the profile says around its numbers: the header names the weights and the attention implementation, acc@1
is the paper's, modules that run without being entered are counted, and the whole model has one total latency."""

from __future__ import annotations

import pytest

from swinprof.cli.main import main
from swinprof.measure.peaks import Ceiling
from swinprof.profile.grouping import swin_stages
from swinprof.profile.macs import count_costs
from swinprof.profile.nnops import nn_op_table
from swinprof.profile.roofline import stage_roofline
from swinprof.studies.attention import _first_line
from tests.profile.conftest import tiny_input, tiny_model


def test_modules_that_run_without_being_entered_are_counted():
    model, x = tiny_model(), tiny_input()
    trace = count_costs(model, x, swin_stages(model))
    calls = nn_op_table(model, trace.modules_called).set_index("type")["calls"]
    blocks = sum(len(stage.blocks) for stage in model.layers)
    assert calls["SwinTransformer"] == 1  # the stages are one forward of the root
    assert calls["WindowAttention"] == calls["SwinBlock"] == blocks  # used functionally by each block's forward
    assert calls["ModuleList"] == 0  # a container is iterated, never called


def test_the_stage_roofline_total_is_the_stage_tables_total():
    model, x = tiny_model(), tiny_input()
    trace = count_costs(model, x, swin_stages(model))
    c, b = (
        Ceiling("compute", 100.0, "GFLOP/s", "fp32", "cpu", "k", "t"),
        Ceiling("bw", 10.0, "GB/s", None, "cpu", "k", "t"),
    )
    stage_ms = {s.name: 1.0 for s in trace.stages}
    assert stage_roofline(trace, stage_ms, c, b)["ms"].iloc[-1] == pytest.approx(len(stage_ms))
    assert stage_roofline(trace, stage_ms, c, b, total_ms=5.5)["ms"].iloc[-1] == pytest.approx(5.5)


def test_profile_header_names_weights_and_attention_and_acc_is_the_papers(capsys):
    assert main(["profile", "swin_t", "--no-timing", "--quiet", "--attn", "sdpa", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    title = out.splitlines()[0]
    assert "random init weights (seed 0)" in title and "attention sdpa" in title and "batch 1, fp32 on cpu" in title
    assert "acc@1/acc@5: the paper's ImageNet-1K figures for the official weights, not measured here" in out
    assert "fwd tensor peak (MiB, batch)" in out


def test_an_exception_line_is_shortened_at_a_word_boundary():
    line = _first_line(RuntimeError("no rule registered for mode <swinprof.measure.memory.TensorPeak object> " * 5))
    assert line.startswith("RuntimeError: no rule") and line.endswith(" ...") and len(line) <= 164
    assert line[:-4].split()[-1] in [
        "no",
        "rule",
        "registered",
        "for",
        "mode",
        "<swinprof.measure.memory.TensorPeak",
        "object>",
    ]
    assert _first_line(ValueError("short")) == "ValueError: short"


def test_a_refused_profile_starts_stderr_with_its_error(tmp_path):
    """Not on a terminal no progress bar runs, so no empty line opens the error (it used to)."""
    import subprocess
    import sys

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    proc = subprocess.run([sys.executable, "-m", "swinprof", "profile", "swin_t", "--res", "64", "--weights",
                           str(bad)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("swinprof: error:"), repr(proc.stderr[:200])
