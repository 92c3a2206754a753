"""`swinprof attention`: writes the comparison in every format; bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

from swinprof.cli.main import main
from swinprof.studies.attention import compare_attention


def test_writes_md_csv_json(tmp_path, capsys):
    argv = ["attention", "swin_t", "--res", "64", "--batch", "1", "--iters", "1", "--warmup", "0"]
    assert main([*argv, "--impl", "fused", "--output", str(tmp_path), "--format", "csv"]) == 0
    stem = tmp_path / "attention_swin_t_64_b1_cpu"
    data = json.loads(stem.with_suffix(".json").read_text())
    rows = data["tables"][0]["rows"]
    assert [r["impl"] for r in rows] == ["reference", "fused"]
    assert all(r["max abs err (logits)"] <= 1e-4 for r in rows)
    reference, fused = rows  # speedup = reference's model median over the row's (not the reference against itself)
    assert fused["speedup vs reference"] == pytest.approx(reference["model ms (median)"] / fused["model ms (median)"])
    assert "| reference | ok |" in stem.with_suffix(".md").read_text()
    assert "speedup vs reference" in capsys.readouterr().out
    assert all(r["tensor_peak_bytes"] > 0 for r in rows) and data["environment"]["torch"] == torch.__version__
    assert (tmp_path / "attention_swin_t_64_b1_cpu_impls.csv").exists() and stem.with_suffix(".html").exists()


def test_bad_impl_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["attention", "swin_t", "--impl", "bogus", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swinprof: error:") and "choose one of" in err and "\n" not in err
    assert not list(tmp_path.glob("out/*"))


def test_unrunnable_impl_is_listed_with_its_reason():
    """flex has no CPU backward: with --backward it is a row with the reason, not a crash."""
    small = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2))
    result = compare_attention(
        "swin_t", res=64, batch=1, backward=True, impls=["flex", "sdpa"], warmup=0, iters=1, model_overrides=small
    )
    table = result.table.set_index("impl")
    assert "no backward on CPU" in table.loc["flex", "status"]
    assert table.loc["sdpa", "status"] == "ok"
    assert table.loc["sdpa", "max abs err (input grad)"] <= 1e-4
    assert torch.isnan(torch.tensor(table.loc["flex", "model ms (median)"]))


def test_several_batch_sizes_give_one_table_each(tmp_path):
    argv = ["attention", "swin_t", "--res", "64", "--batch", "1,2", "--iters", "1", "--warmup", "0", "--impl", "fused"]
    assert main([*argv, "--output", str(tmp_path), "--format", "csv"]) == 0
    data = json.loads((tmp_path / "attention_swin_t_64_b1-2_cpu.json").read_text())
    assert [t["key"] for t in data["tables"]] == ["impls_b1", "impls_b2"]
    assert data["settings"]["batch"] == [1, 2] and "batch 1, 2" in data["title"]
    for table in data["tables"]:
        assert [r["impl"] for r in table["rows"]] == ["reference", "fused"]
        assert all(r["max abs err (logits)"] <= 1e-4 for r in table["rows"])


def test_a_bad_batch_list_is_one_line(tmp_path, capsys):
    assert main(["attention", "swin_t", "--batch", "1,0", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "argument --batch" in err and "'1,0'" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_model_config_reaches_the_measured_model_and_the_report(capsys):
    import json

    from swinprof.cli.main import main

    code = main(["attention", "swin_t", "--res", "64", "--batch", "1", "--impl", "sdpa", "--iters", "1", "--warmup",
                 "0", "--block-iters", "1", "--model-config", "embed_dim=32", "--model-config", "depths=2,1,1,1",
                 "--model-config", "num_heads=1,2,4,8", "--format", "json"])  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["model config"] == {"embed_dim": 32, "depths": [2, 1, 1, 1], "num_heads": [1, 2, 4, 8]}
    # depths 2,1,1,1: only stage 1 has a shifted block (swin_t's 2,2,6,2 has one in every stage)
    columns = [c for c in doc["tables"][0]["rows"][0] if c.endswith(" ms") and c.startswith("s")]
    assert columns == ["s1 regular block ms", "s1 shifted block ms", "s2 regular block ms", "s3 regular block ms",
                       "s4 regular block ms"]  # fmt: skip
