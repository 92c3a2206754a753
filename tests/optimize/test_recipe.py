"""Recipe schema: parsing, clear errors before any work, presets, round trip."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from swinprof.errors import DeviceUnavailableError, MissingExtraError, RecipeError
from swinprof.optimize.presets import _describe, get_recipe, preset_paths, recipe_table, resolve_recipe_path
from swinprof.optimize.recipe import DEFAULT_SKIP, check_requirements, load_recipe, parse_recipe, to_toml

# Every preset in recipes/ (benchmark suites live in recipes/suites/): a new one is checked without editing a list.
PRESETS = list(preset_paths())
CPU_PRESETS = [name for name in PRESETS if get_recipe(name).target.device == "cpu"]


def test_defaults_are_the_fp32_baseline():
    r = parse_recipe({})
    assert (r.quantize.method, r.compile.backend) == ("none", "none")
    assert (r.target.runtime, r.target.device) == ("pytorch", "cpu")
    assert r.quantize.skip == DEFAULT_SKIP


def test_unknown_key_lists_valid_keys():
    with pytest.raises(RecipeError, match=r"\[quantize\]: unknown key 'metod'; valid keys: method, include, skip"):
        parse_recipe({"quantize": {"metod": "int8-dynamic"}}, source="x.toml")


def test_unknown_table_lists_tables():
    with pytest.raises(RecipeError, match=r"unknown key 'quantise'; valid keys: meta, model, target, quantize"):
        parse_recipe({"quantise": {}})


def test_bad_choice_names_the_choices():
    msg = r"\[compile\]\.mode = 'fast' is not valid; choose one of: default, max-autotune"
    with pytest.raises(RecipeError, match=msg):
        parse_recipe({"compile": {"backend": "inductor", "mode": "fast"}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"benchmark": {"batch_sizes": 8}}, r"\[benchmark\]\.batch_sizes must be a list"),
        ({"benchmark": {"iters": "ten"}}, r"\[benchmark\]\.iters must be an integer"),
        ({"benchmark": {"iters": 0}}, r"\[benchmark\]\.iters = 0 must be at least 1"),
        ({"compile": {"freezing": "yes"}}, r"\[compile\]\.freezing must be true or false"),
        ({"quantize": {"calibration": {"count": True}}}, r"\[quantize\.calibration\]\.count must be an integer"),
        ({"quantize": {"method": "ort-int8-dynamic"}}, r"runs on runtime 'onnxruntime'.*set \[target\] runtime"),
        ({"target": {"runtime": "onnxruntime"}, "compile": {"backend": "inductor"}}, r"pytorch runtime only"),
        ({"suite": {}}, r"is a benchmark suite"),
    ],
)
def test_bad_values(data, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(data)


def test_every_preset_file_is_valid_and_listed():
    paths = preset_paths()
    assert len(paths) >= 16 and {"fp32-eager", "int8-x86-cpu", "openvino-int8", "edge-orin-int8"} <= set(paths)
    for name in paths:
        assert get_recipe(name).name == name
    table = recipe_table()
    assert set(table["name"]) == set(paths)  # every recipes/*.toml, benchmark suites included
    assert "invalid" not in set(table["kind"])


def test_suite_files_are_listed_not_validated(tmp_path):
    suite = tmp_path / "ci-bench.toml"
    suite.write_text('[suite]\ndescription = "per-commit latency"\n[[case]]\nmodel = "swin_t"\n')
    row = _describe(suite)
    assert row["kind"] == "benchmark suite" and row["description"] == "per-commit latency"
    with pytest.raises(RecipeError, match="benchmark suite"):
        load_recipe(suite)


@pytest.mark.parametrize("name", PRESETS)
def test_toml_round_trip(name, tmp_path):
    recipe = get_recipe(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(recipe))
    assert load_recipe(path) == recipe


@pytest.mark.parametrize("name", CPU_PRESETS)
def test_cpu_presets_pass_machine_checks(name):
    try:
        check_requirements(get_recipe(name))
    except DeviceUnavailableError as exc:  # a CPU feature this machine lacks (bf16): the refusal names it
        assert "this CPU" in str(exc), exc
        pytest.skip(str(exc))


def test_unknown_preset_lists_presets():
    with pytest.raises(RecipeError, match=r"no recipe file or preset named 'int9'; presets: .*int8-x86-cpu"):
        resolve_recipe_path("int9")


def test_invalid_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[quantize\nmethod=")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_fp8_on_a_machine_without_cuda():
    with pytest.raises(DeviceUnavailableError, match="needs a CUDA GPU"):
        check_requirements(get_recipe("fp8-dynamic"))
    with pytest.raises(DeviceUnavailableError, match="runs on cuda only, not cpu"):
        check_requirements(get_recipe("fp8-dynamic").replace("target", device="cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_pt2e_x86_is_cpu_only():
    with pytest.raises(DeviceUnavailableError, match="runs on cpu only, not cuda"):
        check_requirements(get_recipe("int8-x86-cpu").replace("target", device="cuda"))


@pytest.mark.skipif(importlib.util.find_spec("torch_tensorrt") is not None, reason="torch-tensorrt is installed")
@pytest.mark.parametrize("name", ["tensorrt-fp16", "edge-orin-int8"])
def test_tensorrt_missing_extra_names_it(name):
    with pytest.raises(MissingExtraError, match=r"pip install 'swinprof\[tensorrt\]'"):
        check_requirements(get_recipe(name))


def test_replace_revalidates():
    with pytest.raises(RecipeError, match="must be at least 1"):
        get_recipe("int8-dynamic").replace("benchmark", iters=0)
