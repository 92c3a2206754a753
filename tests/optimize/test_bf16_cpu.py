"""bf16 on CPU in PyTorch: the autocast presets hold fp32's logits within bf16's precision on a tiny model, and on a
CPU without native bf16 they stop before any work, naming the missing feature.

The CPU's features are simulated through the probe (`environment.cpu_flags`, what /proc/cpuinfo says), never by
touching torch: autocast bf16 runs on this AVX2 CPU too (emulated, slowly), so the numerics are real.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from swinprof.cli.main import main
from swinprof.errors import DeviceUnavailableError, RecipeError
from swinprof.evaluate.fidelity import compare_logits
from swinprof.measure import environment
from swinprof.measure.native import cpu_support
from swinprof.optimize.methods import get_runtime
from swinprof.optimize.prepare import prepare
from swinprof.optimize.presets import get_recipe, preset_paths
from swinprof.optimize.recipe import check_requirements, parse_recipe
from swinprof.studies.deploy_choice import DeployQuestion, Floor
from swinprof.studies.recipe_record import record_dict, run_report
from swinprof.studies.recipe_run import BASELINE, RunOptions, plan_run, run_plan
from tests.evaluate.test_imagefolder import write_folder
from tests.measure.test_native import EPYC_AVX2, ZEN4
from tests.optimize.tiny import inputs, tiny_model

# Every preset that runs in autocast on a CPU (bf16-autocast-cpu, compile-inductor-bf16-cpu).
AUTOCAST_CPU = [n for n in preset_paths() if (r := get_recipe(n)).target.autocast and r.target.device == "cpu"]
# bf16 keeps 8 bits of mantissa: ~40 dB on this tiny model (41.7 eager, 45 compiled, measured); int8 paths
# reach 20-35 dB. Above the upper bound the recipe did not compute in bf16 at all.
BF16_SQNR_DB = (33.0, 80.0)


def _simulate(monkeypatch, flags: frozenset[str]) -> None:
    monkeypatch.setattr(environment, "cpu_flags", lambda: flags)


def test_the_autocast_presets_are_the_bf16_cpu_recipes():
    assert set(AUTOCAST_CPU) == {"bf16-autocast-cpu", "compile-inductor-bf16-cpu"}
    for name in AUTOCAST_CPU:
        r = get_recipe(name)
        assert r.target.precision == "bf16" and get_runtime(r.target.runtime).spec.autocasts


@pytest.mark.parametrize("name", AUTOCAST_CPU)
def test_refused_before_any_work_on_a_cpu_without_native_bf16(name, monkeypatch, capsys, tmp_path):
    _simulate(monkeypatch, EPYC_AVX2)
    with pytest.raises(DeviceUnavailableError, match=r"bf16 does not run natively on this CPU \(emulated: .*slower "
                       r"than fp32; needs AVX512_BF16 or AMX-BF16.*this CPU has avx2 fma\)"):  # fmt: skip
        check_requirements(get_recipe(name))
    out = tmp_path / "out"
    assert main(["run", name, "--model", "swin_t", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swinprof: error:") and "AVX512_BF16" in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("name", AUTOCAST_CPU)
def test_accepted_where_the_cpu_has_native_bf16(name, monkeypatch):
    _simulate(monkeypatch, ZEN4)
    check_requirements(get_recipe(name))


def test_eager_autocast_holds_fp32_within_bf16_precision(monkeypatch, tmp_path):
    _simulate(monkeypatch, ZEN4)
    recipe = get_recipe("bf16-autocast-cpu")
    check_requirements(recipe)
    model = tiny_model(depths=(2, 1, 1, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prepared = prepare(recipe, model, [], tmp_path)
    x = inputs(8, seed=3)
    with torch.inference_mode():
        ref, out = model(x), prepared.fn(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    f = compare_logits(ref, out)
    assert BF16_SQNR_DB[0] < f.sqnr_db < BF16_SQNR_DB[1], f
    assert f.top1_agreement == 1.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the fp32 model is untouched
    assert any("torch.autocast('cpu', torch.bfloat16)" in n and "at every call" in n for n in prepared.notes)


@pytest.mark.slow  # one inductor compile of the autocast graph: minutes on the shared 2-core machine
def test_compiled_autocast_is_one_frozen_graph_within_bf16_precision(monkeypatch, tmp_path):
    torch._dynamo.reset()
    has_bf16 = cpu_support("bf16").native  # the real CPU: oneDNN prepacks bf16 Linears only where it is native
    _simulate(monkeypatch, ZEN4)
    recipe = get_recipe("compile-inductor-bf16-cpu")
    check_requirements(recipe)
    model = tiny_model(depths=(2, 1, 1, 1))
    prepared = prepare(recipe, model, [], tmp_path)
    x = inputs(8, seed=3)
    with torch.inference_mode():
        ref, out = model(x), prepared.fn(x)
        prepared.fn(inputs(8, seed=4))  # same signature: no recompile
    f = compare_logits(ref, out)
    assert BF16_SQNR_DB[0] < f.sqnr_db < BF16_SQNR_DB[1], f
    stats = prepared.compiled.stats()
    assert (stats.graphs, stats.breaks, stats.recompiles) == (1, 0, 0), stats
    if has_bf16:
        assert stats.prepacked_linears == sum(isinstance(m, torch.nn.Linear) for m in model.modules()), stats
    torch._dynamo.reset()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"precision": "fp32", "autocast": True}, "autocast needs a lower precision"),
        ({"runtime": "openvino", "precision": "bf16", "autocast": True}, "applies to the pytorch runtime only"),
    ],
)
def test_autocast_where_it_cannot_apply_is_refused(target, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe({"target": {"device": "cpu", **target}})


def test_a_run_gives_it_fidelity_accuracy_and_a_native_row_like_every_recipe(monkeypatch, tmp_path):
    """bf16-autocast-cpu beside fp32 eager on labeled images: its rows, the header's native precisions, the
    deployment choice (the floor at 30 dB lets the bf16 row qualify; which one is faster is this machine's)."""
    _simulate(monkeypatch, ZEN4)
    root = write_folder(tmp_path / "data", per_class=2)
    cmap = tmp_path / "classes.json"
    cmap.write_text(json.dumps({"red": 0, "green": 1, "blue": 2}))
    opts = RunOptions(data=str(root), class_map=str(cmap), batch_sizes=(1,), warmup=0, iters=2, eval_batch_size=3,
                      process_memory=False)  # fmt: skip
    result = run_plan(plan_run([get_recipe("bf16-autocast-cpu")], opts), tmp_path / "work", model=tiny_model())
    row = result.table.set_index("recipe").loc["bf16-autocast-cpu"]
    assert BF16_SQNR_DB[0] < row.sqnr_db < BF16_SQNR_DB[1] and math.isfinite(row.d_acc1)
    assert row.native == "yes (AVX512_BF16)" and result.accuracy["bf16-autocast-cpu"].samples == 6
    question = DeployQuestion(Floor(min_sqnr_db=30.0, max_acc_drop=100.0))
    report = run_report(result, {}, question=question)
    assert report.settings["native precisions"].startswith("fp32, int8 (AVX512-VNNI), bf16 (AVX512_BF16)")
    choice = report.table("choice")
    assert report.tables[-1] is choice and choice.frame.loc[0, "deploy"] in {BASELINE, "bf16-autocast-cpu"}
    assert record_dict(result, {}, question)["choice"]["choices"][0]["recipe"] == choice.frame.loc[0, "deploy"]
