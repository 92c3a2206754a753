"""`swinprof models`, `swinprof predict` and the error contract: one line, exit 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from swinprof.cli.main import main
from swinprof.models import VARIANTS, create_model
from swinprof.models.checkpoint import save_checkpoint


def test_models_lists_every_variant(capsys):
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["tables"][0]["rows"]
    assert [r["name"] for r in rows] == list(VARIANTS)
    assert {r["name"]: r["params (M)"] for r in rows}["swin_s"] == 49.61


def test_models_table_renders(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "swinv2_b_w16" in out and "49.61" in out


@pytest.fixture(scope="module")
def swin_t_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "swin_t.safetensors"
    save_checkpoint(create_model("swin_t"), path)
    return path


@pytest.fixture
def cat_jpg(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cat.jpg"
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.fullsize
def test_predict_prints_top5(swin_t_checkpoint, cat_jpg, capsys):
    assert main(["predict", "swin_t", "--weights", str(swin_t_checkpoint), str(cat_jpg), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["tables"][0]["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    probs = [r["probability"] for r in rows]
    assert probs == sorted(probs, reverse=True) and all(0 < p <= 1 for p in probs)
    assert all(r["label"] and r["image"] == "cat.jpg" for r in rows)


def _one_line_error(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert pattern in err, err


def test_bad_variant(capsys, cat_jpg, tmp_path):
    _one_line_error(capsys, ["predict", "swin_xl", "--weights", str(tmp_path / "w.pth"), str(cat_jpg)],
                    "unknown model variant 'swin_xl'")  # fmt: skip


def test_bad_resolution(capsys, cat_jpg, tmp_path):
    _one_line_error(capsys, ["predict", "swin_t", "--res", "100", "--weights", "w.pth", str(cat_jpg)],
                    "resolution 100 is not supported: use a positive multiple of 32")  # fmt: skip


def test_bad_checkpoint(capsys, cat_jpg, tmp_path):
    (tmp_path / "w.pth").write_bytes(b"garbage")
    _one_line_error(capsys, ["predict", "swin_t", "--weights", str(tmp_path / "w.pth"), str(cat_jpg)],
                    "is not a PyTorch checkpoint")  # fmt: skip


def test_missing_checkpoint(capsys, cat_jpg, tmp_path):
    _one_line_error(capsys, ["predict", "swin_t", "--weights", str(tmp_path / "nope.pth"), str(cat_jpg)],
                    "does not exist")  # fmt: skip


def test_cuda_without_gpu(capsys, cat_jpg):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _one_line_error(capsys, ["predict", "swin_t", "--device", "cuda", "--weights", "w.pth", str(cat_jpg)],
                    "use --device cpu")  # fmt: skip


def test_python_dash_m_entry_point_and_exit_code():
    ok = subprocess.run([sys.executable, "-m", "swinprof", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("swinprof ")
    bad = subprocess.run([sys.executable, "-m", "swinprof", "predict", "nope", "x.jpg", "--weights", "w"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "unknown model variant" in bad.stderr and "Traceback" not in bad.stderr
