"""The candidate set of `swinprof run native`: drawn from what the registered runtimes and methods declare, kept
where it runs natively on this (simulated) CPU; a runtime registered from outside joins it."""

from __future__ import annotations

import pytest

from swinprof.measure import environment
from swinprof.optimize.candidates import (
    BASELINE_PRESET,
    NATIVE,
    declared_candidates,
    expand_recipes,
    native_candidates,
    native_cell,
    native_presets,
    recipe_precisions,
)
from swinprof.optimize.methods import methods, runtimes
from swinprof.optimize.presets import get_recipe, preset_paths
from tests.measure.test_native import EPYC_AVX2, ZEN4
from tests.optimize.plugin_runtime import register_plugin


def _simulate(monkeypatch, flags):
    monkeypatch.setattr(environment, "cpu_flags", lambda: flags)


def test_every_declared_candidate_is_a_recipe_of_what_declares_it():
    """A runtime declares its unquantized deployments, a method the recipes that run it."""
    for name, runtime in runtimes().items():
        for candidate in runtime.spec.candidates:
            r = get_recipe(candidate)
            assert (r.target.runtime, r.quantize.method) == (name, "none"), candidate
    for name, method in methods().items():
        for candidate in method.spec.candidates:
            assert get_recipe(candidate).quantize.method == name, candidate
    assert len(declared_candidates()) == len(set(declared_candidates())) > 0


def test_the_set_name_is_no_preset():
    assert NATIVE not in preset_paths()


def test_a_recipe_computes_in_its_method_kind_and_its_target_precision():
    assert recipe_precisions(get_recipe("int8-x86-cpu")) == ("int8", "fp32")
    assert recipe_precisions(get_recipe("bf16-autocast-cpu")) == ("bf16",)
    assert recipe_precisions(get_recipe("fp8-dynamic-bf16")) == ("fp8", "bf16")
    assert recipe_precisions(get_recipe("compile-inductor")) == ("fp32",)


@pytest.mark.parametrize(("flags", "bf16"), [(EPYC_AVX2, False), (ZEN4, True)], ids=["avx2", "avx512-bf16"])
def test_the_set_is_the_declared_cpu_candidates_that_run_natively(flags, bf16, monkeypatch):
    _simulate(monkeypatch, flags)
    found = native_candidates("cpu")
    assert found.names[0] == BASELINE_PRESET
    declared = [get_recipe(n) for n in declared_candidates()]
    on_cpu = {r.name for r in declared if r.target.device == "cpu"}
    assert set(found.names[1:]) | set(found.left_out) == on_cpu  # each cpu candidate: in, or out with why
    assert not set(found.names) & set(found.left_out)
    pytorch_bf16 = {r.name for r in declared if r.target.autocast and r.target.device == "cpu"}
    assert pytorch_bf16 and (pytorch_bf16 <= set(found.names)) == bf16
    if not bf16:
        assert all(found.left_out[n] == "bf16 emulated" for n in pytorch_bf16)
    for r in found.recipes:
        assert native_cell(r).startswith("yes"), r.name
    assert "int8-x86-cpu" in found.names  # int8 is native on AVX2 too (integer kernels, no VNNI)


def test_a_new_runtime_joins_the_set_without_naming_it_anywhere(monkeypatch, tmp_path):
    _simulate(monkeypatch, EPYC_AVX2)
    register_plugin(monkeypatch, tmp_path)
    found = native_candidates("cpu")
    assert {"edge-fp32", "edge-int8"} <= set(found.names)  # the runtime's own candidate and its method's
    assert found.left_out["edge-bf16"] == "bf16 emulated"
    assert {"compile-inductor", "int8-x86-cpu"} <= set(found.names)  # the built-in ones stay
    recipes, again = expand_recipes([NATIVE, "int8-x86-cpu"])
    assert [r.name for r in recipes] == found.names and again.names == found.names  # each recipe once


def test_native_presets_leave_out_what_this_machine_would_emulate(monkeypatch):
    _simulate(monkeypatch, EPYC_AVX2)
    keep, left_out = native_presets()
    assert "fp32-eager" in keep and "int8-x86-cpu" in keep
    assert left_out["bf16-autocast-cpu"] == "bf16 emulated"
    assert set(keep).isdisjoint(left_out)
