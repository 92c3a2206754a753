"""The recipe subcommands: listing, clear one-line errors (exit 2), one report published whole, Ctrl-C leaves
nothing written."""

from __future__ import annotations

import json

import pytest
import torch

import swinprof.studies.recipe_timing as recipe_timing
from swinprof.cli.main import main


def test_recipes_lists_every_file_and_every_registered_method(capsys):
    from swinprof.optimize.methods import methods

    assert main(["recipes", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    for name in ["fp32-eager", "int8-x86-cpu", "onnx-ort-int8", "tensorrt-fp16", "edge-orin-int8", "fp8-dynamic"]:
        assert f"\n{name}," in out
    assert "# methods\n" in out
    for method in methods():
        assert f"\n{method}," in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope"], "no recipe file or preset named 'nope'"),
        (["run", "fp8-dynamic", "--model", "swin_t"], "fp8-dynamic"),
        (["run", "int8-x86-cpu", "--model", "swin_q"], "swin_q"),
        # --device is checked against this machine first (as every command does), then against the method
        (
            ["quantize", "swin_t", "--method", "pt2e-int8-x86", "--device", "cuda"],
            "cpu only" if torch.cuda.is_available() else "no CUDA GPU is available",
        ),
        (["run", "int8-dynamic", "--data", "/does/not/exist"], "does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_2(argv, message, capsys, tmp_path):
    out = tmp_path / "out"
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swinprof: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_ctrl_c_leaves_no_report(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe_timing, "measure_interleaved", interrupted)
    out = tmp_path / "out"
    argv = ["run", "fp32-eager", "--model", "swin_t", "--res", "32", "--fidelity-samples", "2", "-o", str(out)]
    assert main(argv) == 130
    assert not out.exists()
    assert "no partial report" in capsys.readouterr().err


def test_run_writes_nothing_without_dash_o(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "fp32-eager", "--model", "swin_t", "--res", "32", "--batch-sizes", "1", "--warmup", "0",
            "--iters", "1", "--fidelity-samples", "2", "--eval-batch", "2", "--no-process-memory",
            "--model-config", "depths=1,1,1,1", "--model-config", "embed_dim=48"]  # fmt: skip
    assert main(argv) == 0
    assert "speedup" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no out/<model>-<recipes>-<time> folder: commands write only where asked


def test_run_publishes_one_report_with_its_record(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "fp32-eager", "--model", "swin_t", "--res", "32", "--batch-sizes", "1", "--warmup", "0",
            "--iters", "1", "--fidelity-samples", "2", "--eval-batch", "2", "--no-process-memory", "--format", "json",
            "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.json", "report.html", "record.json", "fp32-eager.resolved.toml"} <= names
    assert json.loads((out / "report.json").read_text()) == printed  # what was printed is what was written
    table = next(t for t in printed["tables"] if t["key"] == "comparison")
    assert table["rows"][0]["process peak MiB"] == "not measured" and table["rows"][0]["tensor_peak_bytes"] > 0
    assert any("tensor peak (live storage bytes)" in n for n in table["notes"])
    assert printed["settings"]["preprocessing"].startswith("Resize(35, interpolation=bicubic) -> CenterCrop(32)")
    assert not list(tmp_path.glob(".*.partial"))


def test_export_onnx_cli(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    argv = ["export", "onnx", "swin_t", "--res", "32", "--dynamic-batch", "--report-format", "json", "-o", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 1e7 and report["settings"]["batch"] == "dynamic"
    parity = report["tables"][0]["rows"]
    assert [r["batch"] for r in parity] == [1, 2] and max(r["max abs diff vs PyTorch"] for r in parity) < 1e-3
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(".*.partial"))


def test_quantize_flags_build_a_recipe():
    from swinprof.cli.main import build_parser
    from swinprof.cli.quantize import recipe_from_args

    args = build_parser().parse_args(["quantize", "swin_s", "--method", "int8-dynamic", "--compile", "max-autotune"])
    r = recipe_from_args(args)
    assert (r.name, r.model.name, r.quantize.method) == ("int8-dynamic+max-autotune", "swin_s", "int8-dynamic")
    assert (r.compile.backend, r.compile.mode, r.compile.freezing) == ("inductor", "max-autotune", True)
    pt2e = recipe_from_args(build_parser().parse_args(["quantize", "swin_t", "--method", "pt2e-int8-x86"]))
    assert pt2e.compile.backend == "inductor"  # PT2E int8 is only fast compiled
    ort = recipe_from_args(build_parser().parse_args(["quantize", "swin_t", "--method", "ort-int8-static"]))
    assert ort.target.runtime == "onnxruntime"
