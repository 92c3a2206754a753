"""Every CPU preset end to end on a tiny model, one interleaved run, and the report and record it publishes."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pandas as pd
import pytest
import torch

from swinprof.measure.environment import environment
from swinprof.measure.timing import SETTLE_MS
from swinprof.models import get_variant
from swinprof.models.preprocess import build_transform
from swinprof.optimize.fresh import fresh_process_peak, save_model
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.recipe import load_recipe, to_dict
from swinprof.report.writer import write_report
from swinprof.studies.recipe_record import fidelity_frame, record_dict, run_files, run_report
from swinprof.studies.recipe_run import BASELINE, RunOptions, plan_run, resolve, run_plan
from swinprof.studies.recipe_timing import settle_ms
from tests.evaluate.test_imagefolder import write_folder
from tests.optimize.tiny import inputs, tiny_model

# Fidelity bounds vs fp32 on seeded random inputs (tiny model): fp32 paths are exact up to float reordering.
SQNR_BOUND_DB = {
    "compile-inductor": 60.0,
    "int8-weight-only": 30.0,
    "int8-dynamic": 25.0,
    "int8-x86-cpu": 20.0,
    "onnx-ort-int8": 20.0,
}
# Process peaks (a fresh interpreter per recipe: ~15 s eager, ~100 s compiled on the shared 2-core machines) are
# measured in their own tests below; here the column must say it was not measured.
FAST = RunOptions(batch_sizes=(2,), warmup=0, iters=2, eval_batch_size=2, fidelity_samples=4, process_memory=False)


@pytest.mark.slow  # ~95 s (two inductor compiles); CI's selfcheck step runs every CPU preset end to end too
def test_every_cpu_preset_end_to_end(tmp_path):
    plan = plan_run([get_recipe(n) for n in ["fp32-eager", *SQNR_BOUND_DB]], FAST)
    recipes = plan.recipes
    result = run_plan(plan, tmp_path / "work", model=tiny_model())
    table = result.table
    assert set(table["recipe"]) == {BASELINE, *SQNR_BOUND_DB}
    for name, bound in SQNR_BOUND_DB.items():
        row = table[table.recipe == name].iloc[0]
        assert row.sqnr_db > bound, f"{name}: SQNR {row.sqnr_db:.1f} dB <= {bound}"
        assert row.median_ms > 0 and row.first_call_s > 0 and math.isfinite(row.speedup)
    base = table[table.recipe == BASELINE].iloc[0]
    assert math.isinf(base.sqnr_db)  # the baseline's own logits, computed twice: bit-identical
    for row in table.itertuples():  # speedup = the baseline's median over the row's (tests/studies/test_recipe_rows.py)
        assert row.speedup == pytest.approx(base.median_ms / row.median_ms), row.recipe
    sizes = dict(zip(table.recipe, table.size_mb))
    assert sizes["int8-weight-only"] < 0.6 * sizes[BASELINE]  # int8 weights on disk
    assert sizes["onnx-ort-int8"] < 0.6 * sizes[BASELINE]
    assert sizes["int8-x86-cpu"] < 0.6 * sizes[BASELINE]  # only the tensors the int8 graph reads
    assert len(result.prepared["int8-x86-cpu"].quantized_layers) > 0
    _check_memory_meters(table)
    _check_compile_stats(result)

    env = environment("cpu")
    report = run_report(result, env)
    written = {p.name for p in write_report(report, tmp_path / "out", "report", extra=run_files(result, env))}
    assert {"record.json", "report.md", "report.json", "onnx-ort-int8.onnx", "int8-x86-cpu.resolved.toml"} <= written
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    assert record["versions"]["torch"] and record["recipes"]["int8-x86-cpu"]["quantize"]["method"] == "pt2e-int8-x86"
    assert record["process_peaks"] is None and "compile-inductor" in record["compile"]
    assert load_recipe(tmp_path / "out" / "int8-x86-cpu.resolved.toml") == {r.name: r for r in recipes}["int8-x86-cpu"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| int8-x86-cpu |" in markdown and "process peak MiB: not measured (--no-process-memory)" in markdown
    assert "tensor peak (live storage bytes)" in markdown and "| graphs / breaks / recompiles |" in markdown
    # PyTorch and ONNX Runtime rows in one run: each timed call waits for the other pool to stop spinning
    assert result.inputs.settle_ms == SETTLE_MS and f"each after {SETTLE_MS:g} ms idle" in markdown
    assert not list(tmp_path.glob(".*.partial"))


def test_runs_on_one_runtime_or_on_cuda_time_back_to_back():
    eager, compiled, ort = (get_recipe(n) for n in ("fp32-eager", "compile-inductor", "onnx-ort-int8"))
    cpu = torch.device("cpu")
    assert settle_ms([eager, compiled], cpu) == 0.0
    assert settle_ms([eager, ort], cpu) == SETTLE_MS
    assert settle_ms([eager, ort], torch.device("cuda")) == 0.0  # one CUDA stream; CPU threads are not timed


def _check_memory_meters(table):
    """Tensor peak for eager PyTorch rows only (compiled, ONNX Runtime: None, not a wrong number)."""
    eager = {BASELINE, "int8-weight-only", "int8-dynamic"}
    for row in table.itertuples():
        assert (pd.notna(row.tensor_peak_bytes) and row.tensor_peak_bytes > 0) == (row.recipe in eager), row.recipe
        assert pd.isna(row.process_peak_bytes)


def test_process_peak_per_recipe_from_a_fresh_process(tmp_path):
    opts = replace(FAST, process_memory=True)
    plan = plan_run([get_recipe("int8-weight-only")], opts)
    result = run_plan(plan, tmp_path, model=tiny_model())
    assert set(result.process_peaks) == {(BASELINE, 2), ("int8-weight-only", 2)}
    for row in result.table.itertuples():
        assert row.process_peak_bytes > 50 * 2**20, row.recipe  # a whole interpreter with torch loaded
        assert row.process_peak_mb == row.process_peak_bytes / 2**20
    report = run_report(result, environment("cpu"))
    notes = report.table("comparison").notes
    assert any(n.startswith("process peak MiB: process peak (fresh process: prepare + forward)") for n in notes)
    assert any("MALLOC_MMAP_THRESHOLD_=131072" in n for n in notes)  # the allocator setting it ran under
    assert any(n.startswith("process peaks: 2 fresh processes took") for n in report.notes)
    frame = report.table("comparison").frame
    assert list(frame["process_peak_bytes"]) == list(result.table["process_peak_bytes"])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SQNR_BOUND_DB))
def test_every_cpu_preset_prepares_in_a_fresh_process(name, tmp_path):
    model = tiny_model()
    path = save_model(model, tmp_path / "fp32.pt")
    recipe = get_recipe(name).replace("model", name="swin_t", img_size=model.config.img_size)
    calibration = None
    if recipe.method.calibrated:
        calibration = tmp_path / "calibration.pt"
        torch.save([inputs(4, seed=s) for s in (10, 11)], calibration)
    assert fresh_process_peak(to_dict(recipe), path, 2, calibration).bytes > 50 * 2**20


def _check_compile_stats(result):
    """Compiled recipes say what dynamo did; any break or recompile is a warning (this model still breaks)."""
    table = result.table.set_index("recipe")
    assert set(result.compile_stats) == {"compile-inductor", "int8-x86-cpu"}
    for name, stats in result.compile_stats.items():
        assert stats.graphs >= 1 and table.loc[name, "dynamo"] == stats.summary
        warned = any(w.startswith(f"{name} (torch.compile)") for w in result.warnings)
        assert warned == bool(stats.problems()), name
    assert table.loc["int8-dynamic", "dynamo"] == "-"


def test_run_states_the_preprocessing_it_used(tmp_path):
    """swin_b_384 at --res 224: resize 224, crop 224 (its crop_pct 1.0), the transform `predict` and `profile` use
    (`build_transform(variant, res)`); the old `run` resized to 248 off the native resolution."""
    opts = RunOptions(model="swin_b_384", img_size=224, batch_sizes=(1,), warmup=0, iters=1, eval_batch_size=2,
                      fidelity_samples=2, process_memory=False)  # fmt: skip
    plan = plan_run([get_recipe("fp32-eager")], opts)
    tiny_b384 = tiny_model("swin_b_384", img_size=224, window_size=7, depths=(1, 1, 1, 1))
    result = run_plan(plan, tmp_path, model=tiny_b384)
    expected = build_transform(get_variant("swin_b_384"), 224)
    assert (expected.resize_size, expected.img_size, expected.crop_pct) == (224, 224, 1.0)
    assert result.inputs.preprocessing == expected.describe()
    assert result.inputs.preprocessing[:2] == ["Resize(224, interpolation=bicubic)", "CenterCrop(224)"]
    report = run_report(result, environment("cpu"))
    assert report.settings["preprocessing"].startswith("Resize(224, interpolation=bicubic) -> CenterCrop(224) ->")
    assert report.settings["preprocessing"].endswith("(crop_pct 1.0)")
    assert record_dict(result, {})["inputs"]["preprocessing"] == expected.describe()
    assert report.table("comparison").frame["process peak MiB"].tolist() == ["not measured"]


@pytest.mark.slow
def test_max_autotune_preset(tmp_path):
    plan = plan_run([get_recipe("compile-inductor-max-autotune")], FAST)
    result = run_plan(plan, tmp_path, model=tiny_model())
    assert result.table.set_index("recipe").loc["compile-inductor-max-autotune", "sqnr_db"] > 60


def test_accuracy_on_a_synthetic_imagefolder(tmp_path):
    root = write_folder(tmp_path / "data", per_class=2)
    cmap = tmp_path / "classes.json"
    cmap.write_text(json.dumps({"red": 0, "green": 1, "blue": 2}))
    opts = RunOptions(data=str(root), class_map=str(cmap), batch_sizes=(1,), warmup=0, iters=2, eval_batch_size=4,
                      process_memory=False)  # fmt: skip
    plan = plan_run([get_recipe("int8-dynamic")], opts)
    result = run_plan(plan, tmp_path / "work", model=tiny_model())
    assert set(result.accuracy) == {BASELINE, "int8-dynamic"}
    assert result.accuracy[BASELINE].samples == 6
    row = result.table.set_index("recipe").loc["int8-dynamic"]
    assert row.d_acc1 == pytest.approx(row.acc1 - result.accuracy[BASELINE].acc1)
    assert result.inputs.fidelity_samples == 6 and "images from" in result.inputs.fidelity_inputs
    assert "Δacc@1" in fidelity_frame(result).columns
    base = result.accuracy[BASELINE]  # per-image top-1 kept for the paired table
    assert len(base.predictions) == len(base.labels) == 6
    assert 100 * sum(p == y for p, y in zip(base.predictions, base.labels)) / 6 == pytest.approx(base.acc1)
    paired = run_report(result, {}).table("accuracy").frame.set_index("recipe")
    assert paired.loc["int8-dynamic", "images"] == 6 and "McNemar p" in paired.columns


def test_calibrating_on_data_without_data_fails_before_work():
    from swinprof.errors import RecipeError

    with pytest.raises(RecipeError, match="pass --data FOLDER"):
        resolve([get_recipe("int8-x86-cpu").replace("quantize", calibration={"source": "data"})], RunOptions())


def test_calibration_data_replaces_the_measured_images_for_calibration_only(tmp_path):
    """--calibration-data: the recipe calibrates on that folder (3 images), never on --data's (6)."""
    from swinprof.evaluate.imagefolder import scan_unlabeled
    from swinprof.studies.recipe_prepare import prepare_recipes

    measured = scan_unlabeled(write_folder(tmp_path / "test", per_class=2))
    calibration = scan_unlabeled(write_folder(tmp_path / "calib", per_class=1))  # class folders, no class map
    recipe = get_recipe("int8-x86-cpu").replace("quantize", calibration={"source": "data", "count": 32})
    model = tiny_model().eval()
    transform = build_transform(get_variant("swin_t"), model.config.img_size)
    plan = plan_run([recipe], RunOptions(calibration_data=str(tmp_path / "calib")))  # no --data needed
    (ready,) = prepare_recipes(plan.recipes, model, tmp_path / "work", measured, transform, 0,
                               calibration_images=calibration)  # fmt: skip
    assert sum(b.shape[0] for b in ready.calibration) == 3
    (default,) = prepare_recipes(plan.recipes, model, tmp_path / "work2", measured, transform, 0)
    assert sum(b.shape[0] for b in default.calibration) == 6
