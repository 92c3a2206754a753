"""`swinprof export onnx-int8`: the file onnx.checker accepts, the placement check passes, the report says where
the calibration came from and prints the trtexec line; calibration from a data folder; the trtexec command."""

from __future__ import annotations

import json
import os
import subprocess
import time

import onnx
import pytest
from PIL import Image

from swinprof.cli.main import main
from swinprof.errors import InvalidOptionError
from swinprof.optimize.qdq_check import check_onnx
from swinprof.studies.trt_artifact import LazyBatches, calibration_batches, trtexec_command
from tests.optimize.test_fp16_onnx import assert_fp16_file

TINY_ARGS = ["--res", "64", "--model-config", "depths=2,1,1,1", "--model-config", "embed_dim=16",
             "--model-config", "num_heads=1,2,2,4", "--model-config", "window_size=4",
             "--model-config", "num_classes=10"]  # fmt: skip


def test_export_onnx_int8_on_a_tiny_swin_t(tmp_path, capsys):
    out = tmp_path / "tiny.int8.onnx"
    assert main(["export", "onnx-int8", "swin_t", *TINY_ARGS, "--report-format", "json", "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    placement = check_onnx(out)
    assert {g.module for g in placement.gemms if g.precision == "float16"} == {"patch_embed.proj", "head"}
    assert not placement.float32_ops() and placement.precisions["Softmax"] == {"float32": 2 + 1 + 1 + 1}
    report = json.loads(capsys.readouterr().out)
    text = json.dumps(report)
    assert "seeded random inputs" in text and "trtexec --onnx=tiny.int8.onnx" in text
    assert report["settings"]["calibration"].startswith("32 seeded random inputs")  # the default count
    assert report["settings"]["high precision"] == "fp16"
    (fidelity,) = next(t["rows"] for t in report["tables"] if t["key"] == "fidelity")
    assert fidelity["SQNR dB"] > 25 and fidelity["top-1 agreement"] >= 0.9


def test_calibration_from_a_data_folder_uses_the_variant_preprocessing(tmp_path):
    for i in range(3):
        (tmp_path / "cls").mkdir(exist_ok=True)
        Image.new("RGB", (80, 70), (i * 60, 20, 200)).save(tmp_path / "cls" / f"{i}.png")
    batches, source = calibration_batches("swin_t", 64, 3, str(tmp_path), count=3, batch_size=2)
    assert [tuple(b.shape) for b in batches] == [(2, 3, 64, 64), (1, 3, 64, 64)]
    assert [tuple(b.shape) for b in batches] == [(2, 3, 64, 64), (1, 3, 64, 64)]  # iterable again
    assert f"3 images from {tmp_path}" in source
    _, seeded = calibration_batches("swin_t", 64, 3, None, count=3, batch_size=2)
    assert "seeded random inputs" in seeded


def test_calibration_batches_are_made_when_read():
    batches, _ = calibration_batches("swin_t", 224, 3, None, count=10_000, batch_size=8)
    assert isinstance(batches, LazyBatches) and batches.images == 10_000
    first = next(iter(batches))
    assert tuple(first.shape) == (8, 3, 224, 224)  # one batch made, not 10,000 images
    with pytest.raises(InvalidOptionError, match="more than 10,000"):
        calibration_batches("swin_t", 224, 3, None, count=10_001, batch_size=8)


@pytest.mark.parametrize("fmt, args, says", [
    ("onnx-int8", ["--calibration-count", "1000000000"], "--calibration-count: must be between 1 and 10000"),
    ("onnx-int8", ["--trt-batch", "8"], "needs --dynamic-batch"),
    ("onnx-int8", ["--exporter", "torchscript", "--opset", "16"], "opset 17 or later"),
    ("onnx-fp16", ["--qdq-residual"], "apply to onnx-int8 only"),
    ("onnx", ["--trt-batch", "8", "--dynamic-batch"], "--trt-batch applies to onnx-int8 / onnx-fp16 only"),
])  # fmt: skip
def test_refused_before_any_work(tmp_path, capsys, fmt, args, says):
    out = tmp_path / "a.onnx"
    start = time.perf_counter()
    assert main(["export", fmt, "swin_digits", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and not out.exists()
    assert time.perf_counter() - start < 10  # no calibration, no export


@pytest.mark.parametrize("dynamic", [False, True])
def test_trtexec_command(dynamic):
    batch = 8 if dynamic else 1
    line = trtexec_command("m.onnx", 3, 224, batch=batch, dynamic_batch=dynamic, max_batch=32)
    for flag in ("--onnx=m.onnx", "--stronglyTyped", "--exportTimes=m.times.json", "--exportProfile=m.profile.json",
                 "--separateProfileRun", "--saveEngine=m.engine"):  # fmt: skip
        assert flag in line
    assert ("--shapes=images:8x3x224x224" in line) == dynamic  # trtexec refuses shapes for a static model
    assert ("--maxShapes=images:32x3x224x224" in line) == dynamic


def test_trtexec_profile_covers_a_timed_batch_above_the_default_max():
    line = trtexec_command("m.onnx", 3, 224, batch=64, dynamic_batch=True, max_batch=32)
    assert "--optShapes=images:64x3x224x224" in line and "--maxShapes=images:64x3x224x224" in line
    with pytest.raises(InvalidOptionError, match="needs --dynamic-batch"):
        trtexec_command("m.onnx", 3, 224, batch=64, dynamic_batch=False)


def test_the_printed_command_keeps_trtexec_exit_status(tmp_path):
    """Run the printed line in bash with a stand-in trtexec that fails: the line fails too, the log is kept."""
    fake = tmp_path / "trtexec"
    fake.write_text("#!/bin/sh\necho building; exit 3\n")
    fake.chmod(0o755)
    line = trtexec_command("m.onnx", 3, 32)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 3 and "building" in (tmp_path / "m.trtexec.log").read_text()


@pytest.mark.slow
def test_export_onnx_int8_full_swin_t(tmp_path):
    """The acceptance case: full swin_t, dynamic batch (about 2 min on the shared 2-core machine: marked slow)."""
    out = tmp_path / "swin_t.int8.onnx"
    assert main(["export", "onnx-int8", "swin_t", "--dynamic-batch", "--report-format", "csv", "-o", str(out)]) == 0
    placement = check_onnx(out)
    int8 = [g for g in placement.gemms if g.precision == "int8"]
    assert len(int8) == 12 * 6 + 3  # 12 blocks x (qkv, proj, fc1, fc2, QK^T, AV) + 3 patch-merging reductions
    assert placement.int8_macs_share > 0.99


@pytest.mark.slow
def test_export_onnx_fp16_on_a_tiny_swin_t(tmp_path, capsys):
    """The fp16 file through the CLI (random init: the exporter shares zero biases with LayerNorm parameters)."""
    out = tmp_path / "tiny.fp16.onnx"
    assert main(["export", "onnx-fp16", "swin_t", *TINY_ARGS, "--report-format", "json", "-o", str(out)]) == 0
    assert_fp16_file(out)  # fails on an unconverted fp32 file (tests/optimize/test_fp16_onnx.py)
    report = json.loads(capsys.readouterr().out)
    (fidelity,) = next(t["rows"] for t in report["tables"] if t["key"] == "fidelity")
    assert fidelity["SQNR dB"] > 40 and report["settings"]["calibration"].startswith("none")
