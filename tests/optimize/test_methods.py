"""The method registry: a method registered beside its handler is valid in recipes, checked, listed and run."""

from __future__ import annotations

import copy

import pytest
import torch

import swinprof.optimize.methods as registry
from swinprof.errors import DeviceUnavailableError, MissingExtraError, RecipeError
from swinprof.optimize.methods import MethodJob, MethodSpec, Quantized, methods, register_method, runtimes
from swinprof.optimize.presets import method_table
from swinprof.optimize.recipe import check_requirements, parse_recipe
from swinprof.optimize.runner import prepare
from tests.optimize.tiny import inputs, tiny_model

BUILTIN = ["none", "int8-weight-only", "int8-dynamic", "fp8-dynamic", "pt2e-int8-x86", "ort-int8-dynamic",
           "ort-int8-static", "trt-int8", "nncf-int8", "nncf-int8-smoothquant", "trt-qdq-int8"]  # fmt: skip


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry the test may extend; the real one is restored afterwards."""
    monkeypatch.setattr(registry, "_METHODS", dict(methods()))


def test_builtin_methods_and_runtimes_are_registered():
    # `none` first; the rest in the order their modules were imported (a test may import one early)
    assert next(iter(methods())) == "none" and sorted(methods()) == sorted(BUILTIN)
    assert set(runtimes()) == {"pytorch", "onnxruntime", "tensorrt", "openvino"}
    assert list(method_table()["method"]) == list(methods())


def test_a_method_registered_in_one_place_is_everywhere(scratch_registry, tmp_path):
    @register_method("halve-head", MethodSpec("pytorch", ("cpu",), summary="toy: halves the classifier"))
    def halve_head(job: MethodJob) -> Quantized:
        work = copy.deepcopy(job.work)
        with torch.no_grad():
            work.head.weight.mul_(0.5)
            work.head.bias.mul_(0.5)
        return Quantized(work, ["head"], ["halved"])

    recipe = parse_recipe({"meta": {"name": "half"}, "quantize": {"method": "halve-head"}})  # the schema knows it
    check_requirements(recipe)
    assert "halve-head" in set(method_table()["method"])
    m = tiny_model()
    prepared = prepare(recipe, m, [], tmp_path)
    assert (prepared.quantized_layers, prepared.notes, prepared.compiled) == (["head"], ["halved"], None)
    with torch.inference_mode():
        assert torch.allclose(prepared.fn(inputs(2)), 0.5 * m(inputs(2)), atol=1e-5)
    with pytest.raises(RecipeError, match=r"choose one of: none, .*halve-head"):
        parse_recipe({"quantize": {"method": "halve"}})
    with pytest.raises(ValueError, match="registered twice"):
        register_method("halve-head", MethodSpec("pytorch", ("cpu",)))(halve_head)


def test_a_missing_extra_is_one_line_naming_it(scratch_registry):
    spec = MethodSpec("pytorch", ("cpu",), extra="quant", module="swinprof_no_such_package")
    register_method("needs-extra", spec)(lambda job: Quantized(job.work))
    with pytest.raises(MissingExtraError, match=r"^recipe 'x' needs the 'swinprof_no_such_package' package: pip "
                                                r"install 'swinprof\[quant\]'$"):  # fmt: skip
        check_requirements(parse_recipe({"meta": {"name": "x"}, "quantize": {"method": "needs-extra"}}))


def test_runtime_rules_come_from_the_runtime_registration():
    with pytest.raises(DeviceUnavailableError, match="runtime 'tensorrt' runs on cuda only"):
        check_requirements(parse_recipe({"target": {"runtime": "tensorrt", "device": "cpu"}}))
    with pytest.raises(RecipeError, match=r"exceeds \[tensorrt\]\.max_batch = 2"):
        trt = {"target": {"runtime": "tensorrt"}, "tensorrt": {"max_batch": 2}}
        parse_recipe({**trt, "benchmark": {"batch_sizes": [8]}})
    with pytest.raises(RecipeError, match="applies to the pytorch runtime only"):
        parse_recipe({"target": {"runtime": "tensorrt"}, "compile": {"backend": "inductor"}})


def test_a_recipe_attention_runs_on_a_copy_with_the_same_weights(tmp_path):
    model = tiny_model()  # built with `reference`, as a run builds it from its first recipe
    prepared = prepare(parse_recipe({"model": {"attn_impl": "fused"}}), model, [], tmp_path)
    assert prepared.fn is not model and prepared.fn.attn_impl == "fused" and model.attn_impl == "reference"
    assert prepared.notes == ["attention fused (the model was built with reference)"]
    x = inputs(2)
    with torch.inference_mode():
        assert torch.allclose(prepared.fn(x), model(x), atol=1e-4)
    same = prepare(parse_recipe({}), model, [], tmp_path)
    assert same.fn is model and same.notes == []
