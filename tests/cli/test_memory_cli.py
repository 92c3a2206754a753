"""`swinprof memory`: option parsing, clear errors (exit 2), and one small end-to-end run through the report path."""

from __future__ import annotations

import json

import pytest

from swinprof.cli.main import main
from swinprof.cli.memory import parse_checkpoint, parse_seq_attn
from swinprof.measure.isolated import ALLOCATOR_NOTE
from swinprof.measure.memory import PROCESS_PEAK_CPU, TENSOR_PEAK


def test_parse_checkpoint_is_one_based():
    assert parse_checkpoint("stages=1,2,3", 4) == ((0, 1, 2), "stage")
    assert parse_checkpoint("stages=2,block", 4) == ((1,), "block")
    assert parse_checkpoint("all,block", 4) == ((0, 1, 2, 3), "block")


def test_rows_for_both_options_include_the_combination():
    import argparse

    from swinprof.cli.memory import build_configs

    args = argparse.Namespace(checkpoint="stages=1,2,block", seq_attn="chunks=2,stages=1")
    rows, combined = build_configs(args, 4)
    assert [r.label for r in rows] == [
        "baseline",
        "checkpoint blocks 1,2",
        "seq-attn 2 chunks, stages 1",
        "checkpoint blocks 1,2 + seq-attn 2 chunks, stages 1",
    ]
    assert combined == rows[-1]


def test_parse_seq_attn():
    assert parse_seq_attn("chunks=4", 4) == (4, (0, 1))
    assert parse_seq_attn("chunks=8,stages=1", 4) == (8, (0,))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seq-attn", "chunks=0"], "chunks must be >= 1"),
        (["--seq-attn", "chunks=x"], "integer"),
        (["--checkpoint", "stages=0"], "1-based"),
        (["--checkpoint", "stages=5"], "stage 5 does not exist"),
        (["--checkpoint", "layers=1"], "stages=1,2,3"),
        (["--zero", "1"], "torchrun --nproc-per-node"),
        (["--zero", "1", "--budget", "8GiB"], "without --zero"),
        (["--budget", "lots"], "cannot read memory size"),
        (["--batch", "0"], "--batch"),
        (["--res", "100"], "resolution 100"),
        (["--mode", "infer", "--budget", "8GiB"], "without --mode infer"),
        (["--mode", "infer", "--zero", "1"], "without --mode infer"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, message, capsys, monkeypatch, tmp_path):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert main(["memory", "swinv2_t_w8", *argv, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_end_to_end_prints_and_writes_one_report_with_both_meters(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["memory", "swinv2_t_w8", "--res", "64", "--batch", "1", "--seq-attn", "chunks=2,stages=1"]
    argv += ["--iters", "1", "--warmup", "0", "--format", "json", "--output", str(out)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    stem = "memory_swinv2_t_w8_64_b1_cpu"
    written = json.loads((out / f"{stem}.json").read_text())
    assert printed["tables"][0]["rows"] == written["tables"][0]["rows"]
    steps, attention = written["tables"]
    assert [r["config"] for r in steps["rows"]] == ["baseline", "seq-attn 2 chunks, stages 1"]
    for row in steps["rows"]:
        assert isinstance(row["tensor_peak_bytes"], int) and isinstance(row["process_peak_bytes"], int)
        assert row["tensor_peak_bytes"] < row["process_peak_bytes"]
    assert steps["rows"][1]["activations vs baseline"] < 1.0
    assert attention["rows"][1]["chunks"] == 2
    assert written["settings"]["mode"] == "train" and written["environment"]["device"] == "cpu"
    # One report, published whole: every file of it and nothing else, no staging folder left behind.
    names = {f"{stem}.md", f"{stem}.json", f"{stem}.html", f"{stem}_steps.csv", f"{stem}_attention.csv"}
    assert {p.name for p in out.iterdir()} == names
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    md = (out / f"{stem}.md").read_text()
    assert "## Training step per configuration" in md and "| tensor peak (MiB) | process peak (MiB) |" in md
    assert "tensor_peak_bytes" not in md  # raw bytes: json and csv only
    assert TENSOR_PEAK in md and PROCESS_PEAK_CPU in md and ALLOCATOR_NOTE in md
    assert "process_peak_bytes" in (out / f"{stem}_steps.csv").read_text()
