"""Every CPU preset end to end on a tiny model, one interleaved run, and the record it writes."""

from __future__ import annotations

import json
import math

import pytest

from swinprof.evaluate.compare import BASELINE, RunOptions, resolve, run_recipes
from swinprof.evaluate.record import comparison_frame, write_run
from swinprof.measure.environment import environment
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.recipe import load_recipe
from tests.evaluate.test_imagefolder import write_folder
from tests.optimize.tiny import tiny_model

# Fidelity bounds vs fp32 on seeded random inputs (tiny model): fp32 paths are exact up to float reordering.
SQNR_BOUND_DB = {
    "compile-inductor": 60.0,
    "int8-weight-only": 30.0,
    "int8-dynamic": 25.0,
    "int8-x86-cpu": 20.0,
    "onnx-ort-int8": 20.0,
}
FAST = RunOptions(batch_sizes=(2,), warmup=0, iters=2, eval_batch_size=2, fidelity_samples=4)


def test_every_cpu_preset_end_to_end(tmp_path):
    recipes = resolve([get_recipe(n) for n in ["fp32-eager", *SQNR_BOUND_DB]], FAST)
    result = run_recipes(recipes, FAST, tmp_path / "work", model=tiny_model())
    table = result.table
    assert set(table["recipe"]) == {BASELINE, *SQNR_BOUND_DB}
    for name, bound in SQNR_BOUND_DB.items():
        row = table[table.recipe == name].iloc[0]
        assert row.sqnr_db > bound, f"{name}: SQNR {row.sqnr_db:.1f} dB <= {bound}"
        assert row.median_ms > 0 and row.first_call_s > 0 and math.isfinite(row.speedup)
    base = table[table.recipe == BASELINE].iloc[0]
    assert base.speedup == 1.0 and math.isinf(base.sqnr_db)
    sizes = dict(zip(table.recipe, table.size_mb))
    assert sizes["int8-weight-only"] < 0.6 * sizes[BASELINE]  # int8 weights on disk
    assert sizes["onnx-ort-int8"] < 0.6 * sizes[BASELINE]
    assert sizes["int8-x86-cpu"] < 0.6 * sizes[BASELINE]  # only the tensors the int8 graph reads
    assert len(result.prepared["int8-x86-cpu"].quantized_layers) > 0

    written = write_run(result, tmp_path / "out", environment("cpu"))
    assert {"record.json", "report.md", "onnx-ort-int8.onnx", "int8-x86-cpu.resolved.toml"} <= set(written)
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    assert record["versions"]["torch"] and record["recipes"]["int8-x86-cpu"]["quantize"]["method"] == "pt2e-int8-x86"
    assert load_recipe(tmp_path / "out" / "int8-x86-cpu.resolved.toml") == {r.name: r for r in recipes}["int8-x86-cpu"]
    assert "| int8-x86-cpu |" in (tmp_path / "out" / "report.md").read_text()
    assert not list((tmp_path / "out").glob(".*.tmp"))


@pytest.mark.slow
def test_max_autotune_preset(tmp_path):
    recipes = resolve([get_recipe("compile-inductor-max-autotune")], FAST)
    result = run_recipes(recipes, FAST, tmp_path, model=tiny_model())
    assert result.table.set_index("recipe").loc["compile-inductor-max-autotune", "sqnr_db"] > 60


def test_accuracy_on_a_synthetic_imagefolder(tmp_path):
    root = write_folder(tmp_path / "data", per_class=2)
    cmap = tmp_path / "classes.json"
    cmap.write_text(json.dumps({"red": 0, "green": 1, "blue": 2}))
    opts = RunOptions(data=str(root), class_map=str(cmap), batch_sizes=(1,), warmup=0, iters=2, eval_batch_size=4)
    recipes = resolve([get_recipe("int8-dynamic")], opts)
    result = run_recipes(recipes, opts, tmp_path / "work", model=tiny_model())
    assert set(result.accuracy) == {BASELINE, "int8-dynamic"}
    assert result.accuracy[BASELINE].samples == 6
    row = result.table.set_index("recipe").loc["int8-dynamic"]
    assert row.d_acc1 == pytest.approx(row.acc1 - result.accuracy[BASELINE].acc1)
    assert result.inputs["fidelity_samples"] == 6 and "images from" in result.inputs["fidelity_inputs"]
    assert "Δacc@1" in comparison_frame(result).columns


def test_calibrating_on_data_without_data_fails_before_work():
    from swinprof.errors import RecipeError

    with pytest.raises(RecipeError, match="pass --data FOLDER"):
        resolve([get_recipe("int8-x86-cpu").replace("quantize", calibration={"source": "data"})], RunOptions())
