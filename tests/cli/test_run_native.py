"""`swinprof run native`: the candidates that run natively here, timed against fp32 eager, ending with the one to
deploy; `swinprof recipes --native` and `swinprof crossover --recipes native` draw on the same set.

The built-in candidates are set aside and a plugin runtime declares the only others (tests/optimize/plugin_runtime),
so the whole command runs in seconds on a tiny model, and the plugin's joining the set is part of what it shows.
"""

from __future__ import annotations

import json

import pytest

from swinprof.cli.crossover import expand_native, recipe_list
from swinprof.cli.main import main
from swinprof.measure import environment
from swinprof.optimize.candidates import NATIVE, native_candidates
from tests.measure.test_native import EPYC_AVX2, ZEN4
from tests.optimize.plugin_runtime import NOISE_SQNR_DB, register_plugin

TINY = ["--model", "swin_t", "--res", "32", "--model-config", "depths=1,1,1,1", "--model-config", "embed_dim=48",
        "--batch-sizes", "1,2", "--warmup", "0", "--iters", "2", "--fidelity-samples", "2", "--eval-batch", "2",
        "--no-process-memory"]  # fmt: skip


def test_run_native_ends_with_the_fastest_recipe_at_or_above_the_floor(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(environment, "cpu_flags", lambda: EPYC_AVX2)
    register_plugin(monkeypatch, tmp_path / "plugin", strip_builtin=True)
    out = tmp_path / "out"
    assert main(["run", NATIVE, *TINY, "--min-sqnr", "30", "--format", "json", "-o", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["native precisions"].startswith("fp32, int8 (AVX2; no VNNI")
    assert printed["settings"]["recipes"] == "fp32-eager, edge-fp32, edge-int8"
    comparison = next(t for t in printed["tables"] if t["key"] == "comparison")
    native = {(r["recipe"], r["batch"]): r["native here"] for r in comparison["rows"]}
    assert native[("edge-int8", 1)] == "yes (AVX2, no VNNI)" and native[("fp32-eager", 1)] == "yes"
    choice = printed["tables"][-1]  # the report ends with the answer
    assert choice["key"] == "choice" and [r["batch"] for r in choice["rows"]] == [1, 2]
    for row in choice["rows"]:
        assert row["deploy"] in {"fp32-eager", "edge-fp32"}  # edge-int8 (20 dB) is below the floor, whatever its speed
    assert any("edge-bf16 (bf16 emulated)" in n for n in choice["notes"])
    assert [n.split(":")[0] for n in printed["notes"] if n.startswith("deploy here")] == [
        "deploy here at batch 1", "deploy here at batch 2"]  # fmt: skip
    record = json.loads((out / "record.json").read_text())
    assert record["choice"]["candidates"] == ["fp32-eager", "edge-fp32", "edge-int8"]
    assert record["choice"]["left_out"] == {"edge-bf16": "bf16 emulated"}
    assert record["choice"]["floor"] == {"min_sqnr_db": 30.0, "max_acc_drop": 1.0}
    sqnr = {r["recipe"]: r["sqnr_db"] for r in record["results"]}
    assert sqnr["edge-int8"] == pytest.approx(NOISE_SQNR_DB, abs=1.0)


@pytest.mark.parametrize(("flag", "value"), [("--min-sqnr", "0"), ("--min-sqnr", "nan"), ("--max-acc-drop", "-1")])
def test_a_floor_out_of_range_is_one_line(flag, value, capsys, tmp_path):
    assert main(["run", "fp32-eager", flag, value, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and "\n" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "bf16"), [(EPYC_AVX2, False), (ZEN4, True)], ids=["avx2", "avx512-bf16"])
def test_recipes_native_lists_what_runs_natively_here(flags, bf16, monkeypatch, capsys):
    monkeypatch.setattr(environment, "cpu_flags", lambda: flags)
    assert main(["recipes", "--native", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "\nint8-x86-cpu," in out and "\nfp32-eager," in out
    assert ("\nbf16-autocast-cpu," in out) == bf16
    assert main(["recipes", "--format", "csv"]) == 0
    assert "\nbf16-autocast-cpu," in capsys.readouterr().out  # without --native: every preset


def test_crossover_takes_the_same_set(monkeypatch):
    monkeypatch.setattr(environment, "cpu_flags", lambda: ZEN4)
    items = recipe_list(f"{NATIVE},int8-x86-cpu")
    assert items[0] == NATIVE and items[1].name == "int8-x86-cpu"
    recipes = expand_native(items, "cpu")
    assert [r.name for r in recipes] == native_candidates("cpu").names  # int8-x86-cpu once, in the set's place
    assert {"bf16-autocast-cpu", "compile-inductor-bf16-cpu"} <= {r.name for r in recipes}
