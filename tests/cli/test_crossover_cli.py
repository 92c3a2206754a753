"""`swinprof crossover` end to end on a tiny model (two recipes, batches 1 and 2), and its bad input."""

from __future__ import annotations

import json

import pytest

from swinprof.cli.main import main
from swinprof.measure.peaks import Ceiling
from swinprof.studies import crossover_run
from swinprof.studies.crossover import bound_side

pytest.importorskip("torchao", reason="the mapped recipes are torchao's")

TINY = ["--res", "32", "--model-config", "embed_dim=16", "--model-config", "depths=1,1,1,1",
        "--model-config", "num_heads=1,1,2,2"]  # fmt: skip


def _planted_ceilings(device):
    """100 GFLOP/s and 10 GB/s: ridge at 10 FLOP/byte (probing the real ones takes 10+ s on a busy machine)."""
    c = Ceiling("compute", 100.0, "GFLOP/s", "fp32", "cpu", "planted", "planted for the test")
    return c, Ceiling("bandwidth", 10.0, "GB/s", None, "cpu", "planted", "planted for the test")


def test_a_tiny_map_writes_its_report_whole(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(crossover_run, "machine_ceilings", _planted_ceilings)
    out = tmp_path / "map"
    code = main(["crossover", "swin_t", "--recipes", "int8-weight-only,int8-dynamic", "--batch", "1,2", *TINY,
                 "--warmup", "0", "--iters", "4", "-o", str(out), "--format", "json"])  # fmt: skip
    assert code == 0
    stem = "crossover_swin_t_32_b1-2_cpu"
    names = {p.name for p in out.iterdir()}
    assert {f"{stem}.md", f"{stem}.json", f"{stem}.html", f"{stem}_points.csv", f"{stem}_summary.csv"} <= names
    doc = json.loads((out / f"{stem}.json").read_text())
    tables = {t["key"]: t["rows"] for t in doc["tables"]}
    assert [r["recipe"] for r in tables["summary"]] == ["int8-weight-only", "int8-dynamic"]
    assert all(r["summary"].startswith(r["recipe"]) for r in tables["summary"])
    points = tables["points"]
    assert sorted((r["recipe"], r["batch"]) for r in points) == sorted(
        (n, b) for n in ("fp32-eager", "int8-weight-only", "int8-dynamic") for b in (1, 2)
    )
    for r in points:
        assert r["img/s"] == pytest.approx(1e3 * r["batch"] / r["median ms"])
        # int8 x int8 GEMMs: the 8-bit rate (x2 without VNNI, x4 with it) moves the ridge right
        ridges = (20.0, 40.0) if r["recipe"] == "int8-dynamic" else (10.0,)
        assert r["ridge (FLOP/B)"] in ridges and r["GEMM intensity (FLOP/B)"] > 0
        assert r["GEMM bound"] == bound_side(r["GEMM intensity (FLOP/B)"], r["ridge (FLOP/B)"])
    fp32 = {r["batch"]: r["GEMM intensity (FLOP/B)"] for r in points if r["recipe"] == "fp32-eager"}
    int8 = {r["batch"]: r["GEMM intensity (FLOP/B)"] for r in points if r["recipe"] == "int8-dynamic"}
    assert fp32[1] < fp32[2] and int8[1] > fp32[1]  # more images per weight read; 1-byte operands
    assert doc["settings"]["batches_measured"] == [1, 2] and doc["settings"]["stop"] == "-"
    env = doc["environment"]
    assert doc["notes"][0].startswith(f"CPU: {env['cpu']} ({env['cpu_features']})")  # ratios depend on them
    assert "<svg" in (out / f"{stem}.html").read_text()
    assert json.loads(capsys.readouterr().out)["title"].startswith("Crossover: swin_t 32x32 on cpu")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipes", "int8-dynamic", "--batch", "1,x"], "batch sizes must be comma-separated integers"),
        (["--recipes", "int8-dynamic", "--batch", "0,2"], "batch sizes must be comma-separated integers"),
        (["--recipes", "int9-fast", "--batch", "1"], "no recipe file or preset named 'int9-fast'"),
        (["--recipes", "fp32-eager", "--batch", "1"], "every recipe given is the baseline"),
        (["--recipes", ",", "--batch", "1"], "give at least one recipe"),
        (["--recipes", "int8-dynamic", "--batch", "1", "--iters", "2"], "--iters 2: 2 timed calls per point cannot "
         "give a 95% speedup interval (the widest covers 67%); use --iters 4 or more"),
        (["--recipes", "int8-dynamic", "--batch", "1", "--iters", "3"], "(the widest covers 90%)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["crossover", "swin_t", *args, *TINY, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
