"""The recipe subcommands: listing, clear one-line errors (exit 2), Ctrl-C leaves nothing written."""

from __future__ import annotations

import pytest

import swinprof.evaluate.compare as compare
from swinprof.cli.main import main


def test_recipes_lists_every_file(capsys):
    assert main(["recipes", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    for name in ["fp32-eager", "int8-x86-cpu", "onnx-ort-int8", "tensorrt-fp16", "edge-orin-int8", "fp8-dynamic"]:
        assert f"\n{name}," in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope"], "no recipe file or preset named 'nope'"),
        (["run", "fp8-dynamic", "--model", "swin_t"], "fp8-dynamic"),
        (["run", "int8-x86-cpu", "--model", "swin_q"], "swin_q"),
        (["quantize", "swin_t", "--method", "pt2e-int8-x86", "--device", "cuda"], "cpu only"),
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

    monkeypatch.setattr(compare, "measure_interleaved", interrupted)
    out = tmp_path / "out"
    argv = ["run", "fp32-eager", "--model", "swin_t", "--res", "32", "--fidelity-samples", "2", "-o", str(out)]
    assert main(argv) == 130
    assert not out.exists()
    assert "no partial report" in capsys.readouterr().err


def test_export_onnx_cli(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "onnx", "swin_t", "--res", "32", "--dynamic-batch", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 1e7 and "batch 2: max abs diff" in text
    assert not list(tmp_path.glob(".*.tmp"))


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
