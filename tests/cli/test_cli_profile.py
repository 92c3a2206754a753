import json

import pytest
import torch

from swinprof.cli.main import main
from swinprof.profile.trace import STAGE_PREFIX


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["profile", "swin_xxl"], "unknown model variant 'swin_xxl'"),
        (["profile", "swin_s", "--res", "100"], "resolution 100 is not supported"),
        (["profile", "swin_s", "--device", "cuda"], "no CUDA GPU"),
        (["profile", "swin_s", "--iters", "0"], "--iters: must be an integer >= 1"),
        (["profile", "swin_s", "--attn", "nope"], "unknown attention implementation 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main([*argv, "--quiet"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swinprof: error: ") and needle in lines[0]
    assert captured.out == ""


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["profile", "swin_t", "--quiet", "--output", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.fullsize
def test_profile_writes_reports_and_trace(tmp_path, capsys):
    out = tmp_path / "reports"
    argv = ["profile", "swin_t", "--res", "64", "--iters", "2", "--warmup", "0", "--depth", "2"]
    assert main([*argv, "--format", "json", "--output", str(out), "--trace", "--by-shape", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    keys = [s["key"] for s in printed["tables"]]
    assert keys == [
        "preprocessing", "model_info", "layers", "layers_totals", "stages", "ops", "ops_by_shape", "nn_ops",
        "roofline_stages", "roofline_ops", "ceilings",
    ]  # fmt: skip
    tables = {t["key"]: t["rows"] for t in printed["tables"]}
    for key in ("roofline_stages", "roofline_ops"):
        for row in tables[key]:
            assert {"bytes", "intensity", "achieved_gflops", "achieved_gbps", "bound"} <= set(row)
            assert row["bound"] in ("compute-bound", "memory-bound", "overhead-bound")
    settings = printed["settings"]
    assert settings["peak_gflops"] > 0 and settings["peak_gbps"] > 0
    assert "GEMM" in settings["peak_gflops_how"] and "triad" in settings["peak_gbps_how"]
    assert printed["environment"]["torch"] == torch.__version__ and printed["environment"]["allocator"]
    stem = "profile_swin_t_64_b1_fp32"
    on_disk = json.loads((out / f"{stem}.json").read_text())
    sections = {s["key"]: s for s in on_disk["tables"]}
    stages = sections["stages"]["rows"]
    assert [r["stage"] for r in stages] == ["patch_embed", "stage1", "stage2", "stage3", "stage4", "norm+head", "total"]
    assert sum(r["MACs"] for r in stages[:-1]) == stages[-1]["MACs"]
    assert sum(r["MACs (self)"] for r in sections["layers"]["rows"]) == stages[-1]["MACs"]
    assert sections["model_info"]["rows"][0]["GMACs (1 img)"] == pytest.approx(stages[-1]["MACs"] / 1e9)
    assert (out / f"{stem}.md").read_text().count("|---") >= 8
    assert "<svg" in (out / f"{stem}.html").read_text()
    trace = json.loads((out / f"{stem}_trace.json").read_text())
    names = {e.get("name") for e in (trace["traceEvents"] if isinstance(trace, dict) else trace)}
    assert {STAGE_PREFIX + r["stage"] for r in stages[:-1]} <= names


def test_missing_weights_file(tmp_path, capsys):
    assert main(["profile", "swin_t", "--quiet", "--weights", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.pth" in err[0] and "does not exist" in err[0]
