"""The guard: every registered runtime, method, attention implementation and selfcheck path declares what the
rest of swinprof asks of it, and the failure names exactly what an entry lacks."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

from swinprof.models.attention import available_attention
from swinprof.optimize.methods import KINDS, OTHER, OWN, Method, Runtime, methods, runtimes
from swinprof.optimize.switch import _BUILDERS
from swinprof.selfcheck.registry import all_checks

ROOT = Path(__file__).resolve().parents[2]


def _test_exists(node_id: str) -> bool:
    """`tests/...py::test_name` names a test function that exists in a file of this checkout."""
    path, _, name = node_id.partition("::")
    file = ROOT / path
    if not (path and name and file.is_file()):
        return False
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree))


def runtime_lacks(runtime: Runtime, selfcheck_paths: set[str]) -> list[str]:
    """What a registered runtime lacks, in words (empty: nothing)."""
    spec, lacks = runtime.spec, []
    if not spec.title:
        lacks.append("report title (RuntimeSpec.title)")
    if not spec.packages:
        lacks.append("version probe (RuntimeSpec.packages)")
    if spec.count_quantized is None and not spec.uncountable:
        lacks.append("proof counter (RuntimeSpec.count_quantized, or RuntimeSpec.uncountable saying why not)")
    if not spec.count_evidence and not spec.uncountable:
        lacks.append("what its proof counter reads (RuntimeSpec.count_evidence)")
    if not spec.size_meter:
        lacks.append("size meter (RuntimeSpec.size_meter)")
    if spec.selfcheck not in selfcheck_paths:
        lacks.append(f"selfcheck path (RuntimeSpec.selfcheck: {spec.selfcheck!r} is not a registered path)")
    if not _test_exists(spec.tested_by):
        lacks.append(f"equivalence test (RuntimeSpec.tested_by: {spec.tested_by!r} is not a test here)")
    if set(spec.gap_role) - {"fp32", *KINDS} or set(spec.gap_role.values()) - {OWN, OTHER}:
        lacks.append(f"a valid gap role (RuntimeSpec.gap_role: {spec.gap_role!r})")
    return lacks


def method_lacks(method: Method) -> list[str]:
    """What a registered quantization method lacks, in words (empty: nothing). `none` quantizes nothing."""
    spec, lacks = method.spec, []
    if method.name == "none":
        return lacks
    if spec.kind not in KINDS:
        lacks.append(f"precision kind (MethodSpec.kind: {spec.kind!r}, one of {', '.join(KINDS)})")
    if not _test_exists(spec.tested_by):
        lacks.append(f"equivalence test (MethodSpec.tested_by: {spec.tested_by!r} is not a test here)")
    if spec.switchable != (method.name in _BUILDERS):
        lacks.append("a switchboard builder matching MethodSpec.switchable (swinprof.optimize.switch)")
    return lacks


def _selfcheck_paths() -> set[str]:
    return {c.name for c in all_checks()}


@pytest.mark.parametrize("name", list(runtimes()))
def test_every_runtime_declares_what_the_rest_of_swinprof_asks(name):
    assert runtime_lacks(runtimes()[name], _selfcheck_paths()) == [], f"runtime {name!r} lacks"


@pytest.mark.parametrize("name", list(methods()))
def test_every_method_declares_its_kind_and_test(name):
    assert method_lacks(methods()[name]) == [], f"method {name!r} lacks"


@pytest.mark.parametrize("impl", available_attention())
def test_every_attention_impl_has_a_selfcheck_path(impl):
    paths = _selfcheck_paths()
    assert f"attention {impl} fp32" in paths, f"attention {impl!r} lacks its selfcheck path 'attention {impl} fp32'"


def test_every_selfcheck_path_says_what_it_checks_and_its_time_limit():
    for check in all_checks():
        assert check.what, f"selfcheck path {check.name!r} lacks a description"
        assert all(check.limit_s.get(d, 0) > 0 for d in check.devices), f"{check.name!r} lacks a time limit"


THROWAWAY = """
from swinprof.optimize.methods import RuntimeSpec, register_runtime

@register_runtime("throwaway", RuntimeSpec(devices=("cpu",), title="Throwaway", size_meter="none"))
def prepare_throwaway(recipe, model, calibration, workdir):
    raise NotImplementedError
"""


def test_a_new_runtime_is_told_exactly_what_it_lacks(tmp_path):
    """A runtime registered in its own module (as a plugin would be) with only a title and a size meter."""
    import swinprof.optimize.methods as registry

    (tmp_path / "throwaway_runtime.py").write_text(THROWAWAY)
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("throwaway_runtime")
        lacks = runtime_lacks(runtimes()["throwaway"], _selfcheck_paths())
    finally:
        registry.unregister_runtime("throwaway")
        sys.path.remove(str(tmp_path))
        sys.modules.pop("throwaway_runtime", None)
    assert lacks == [
        "version probe (RuntimeSpec.packages)",
        "proof counter (RuntimeSpec.count_quantized, or RuntimeSpec.uncountable saying why not)",
        "what its proof counter reads (RuntimeSpec.count_evidence)",
        "selfcheck path (RuntimeSpec.selfcheck: None is not a registered path)",
        "equivalence test (RuntimeSpec.tested_by: '' is not a test here)",
    ]
    assert "throwaway" not in runtimes()
