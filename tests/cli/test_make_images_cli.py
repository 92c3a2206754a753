"""`swinprof make-images`: writes the set and its record, prints the same report, and its output is what
`scan_images` reads (the flat layout with each labels format, the synset folders); Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swinprof.cli.main import main
from swinprof.evaluate.imagefolder import scan_images


@pytest.mark.parametrize(("layout", "labels"), [("flat", None), ("flat", "index"), ("synsets", None)])
def test_make_images_writes_a_set_that_scans(tmp_path, capsys, layout, labels):
    out = tmp_path / "set"
    argv = ["make-images", "-o", str(out), "--count", "4", "--classes", "2", "--layout", layout, "--format", "json"]
    assert main(argv + (["--labels-format", labels] if labels else [])) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report == json.loads((out / "make_images.json").read_text())  # printed = recorded
    assert {t["key"] for t in report["tables"]} == {"sizes", "shapes", "compression"}
    assert report["tables"][0]["rows"][0]["images"] == 4
    assert f"read them with --data {out / 'val'}" in " ".join(captured.err.split())
    labels_file = {"flat": out / ("val.txt" if labels == "index" else "LOC_val_solution.csv")}.get(layout)
    images = scan_images(out / "val", labels=labels_file)
    assert len(images) == 4 and len(set(images.labels)) == 2


def test_labels_format_needs_the_flat_layout(tmp_path, capsys):
    assert main(["make-images", "-o", str(tmp_path / "s"), "--count", "2", "--labels-format", "csv"]) == 2
    assert "--labels-format goes with --layout flat" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_leaves_nothing(tmp_path):
    """A real SIGINT once images are being written: exit 130, one line, no staging folder, no parent folder."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "swinprof", "make-images", "-o", "out/set", "--count", "2000",
                             "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("out/.set.*.partial/val/*/*.JPEG")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "make-images ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert list(tmp_path.iterdir()) == []
