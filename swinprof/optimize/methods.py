"""The registry of runtimes and quantization methods: each registered beside its handler, in one decorator.

Like torchao's `quantize_` (a config type and its handler registered side by side), a method is a `MethodSpec`
(what it needs: runtime, devices, pip extra, calibration, CUDA capability; what it is: precision kind, packages
to record, whether sensitivity can switch its layers) on the function that applies it::

    @register_method("int8-dynamic", MethodSpec(runtime="pytorch", devices=("cpu", "cuda"), extra="quant",
                                                module="torchao", kind="int8", packages=("torchao",)))
    def int8_dynamic(job: MethodJob) -> Quantized:
        return _apply(job, _torchao().Int8DynamicActivationInt8WeightConfig())

A runtime (`pytorch`, `onnxruntime`, `openvino`, `tensorrt`) is registered the same way with `register_runtime` on the
function that turns a recipe into a callable model; it calls the recipe's method at the point where its form of
the model exists (an `nn.Module`, an ONNX file). Its `RuntimeSpec` also says how reports name it, which packages a
run record states, how to count what ran quantized (the proof), how the faster-runtime warnings classify it, what
its size column measures and which selfcheck path runs it. The recipe schema's choices, `check_requirements`,
`swinprof recipes`, `prepare`, the run record, the proof, the warnings and the meter notes all read this registry,
so adding a runtime is one module (and its test module). `tests/optimize/test_registry_guard.py` names what an
entry lacks. The built-in handler modules are imported the first time the registry is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swinprof.errors import RecipeError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.proof import QuantizedCount
    from swinprof.optimize.recipe import Recipe

ANY_RUNTIME = "*"
# Precision kinds a method's quantized layers run in (MethodSpec.kind); None: the method quantizes nothing.
KINDS = ("int8", "fp8")
# How the run's faster-runtime warnings classify a runtime (RuntimeSpec.gap_role): one of swinprof's own paths, or
# a deployment runtime compared against them.
OWN, OTHER = "own", "other"
# Imported on first use of the registry: each registers its runtime / methods beside their handlers.
BUILTIN_MODULES = (
    "swinprof.optimize.pytorch",
    "swinprof.optimize.torchao_methods",
    "swinprof.optimize.pt2e",
    "swinprof.optimize.onnx",
    "swinprof.optimize.tensorrt",
    "swinprof.optimize.openvino",
    "swinprof.optimize.trt_qdq",
    "swinprof.optimize.ort_gpu",
)


@dataclass(frozen=True)
class MethodSpec:
    """What a quantization method needs: its runtime (`*`: any), devices, pip extra and the module that extra
    provides, whether it calibrates on data, and the minimum CUDA compute capability. `suggested`: recipe tables
    the method is meant to run with, which `swinprof quantize` starts from (e.g. PT2E int8 is fast compiled).

    `kind`: the numbers its quantized layers run in (one of KINDS; None for no quantization); `packages`: pip
    distributions whose versions a run record states (beyond its runtime's); `switchable`: sensitivity and the
    budget search can switch its layers one by one (a switchboard builder in `swinprof.optimize.switch`);
    `tested_by`: the test (`tests/...py::test_name`) that holds its output to the fp32 model's.
    `weight_bits` / `activation_bits`: the width of the operands its quantized GEMMs read (None: the target's
    floating-point precision), which the crossover study's roofline context turns into bytes.
    `candidates`: the preset recipes (names, or paths of TOML files) that deploy this method, which
    `swinprof run native` tries wherever they run natively (`swinprof.optimize.candidates`).
    `exact_qdq`: its Q/DQ file is an artifact for another runtime (TensorRT), so ONNX Runtime runs its Q/DQ as
    written instead of fusing it into its own integer kernels (`optimize.onnx.session`)."""

    runtime: str
    devices: tuple[str, ...]
    extra: str | None = None
    module: str | None = None
    calibrated: bool = False
    min_cuda_capability: tuple[int, int] | None = None
    summary: str = ""
    suggested: dict = field(default_factory=dict, hash=False)
    kind: str | None = None
    packages: tuple[str, ...] = ()
    switchable: bool = False
    tested_by: str = ""
    weight_bits: int | None = None
    activation_bits: int | None = None
    candidates: tuple[str, ...] = ()
    exact_qdq: bool = False


@dataclass(frozen=True)
class RuntimeSpec:
    """What a runtime needs and how it behaves.

    `modules`: import names that must be installed (from pip extra `extra`); `needs(recipe)`: more import names
    a particular recipe needs (e.g. onnxscript for the dynamo exporter); `validate(recipe)`: schema checks only
    this runtime knows (raise RecipeError); `check(recipe)`: machine checks `check_requirements` runs once the
    runtime's modules are known to import (raise a SwinprofError, e.g. a CPU without bf16); `compiles`: whether
    `[compile]` applies; `autocasts`: whether `[target] autocast` applies (mixed precision at run time);
    `dispatcher`: whether its uncompiled kernels run through PyTorch's dispatcher, where the tensor-peak meter can
    see them.

    What the rest of swinprof asks of it: `title`, how reports name it; `packages`, the pip distributions whose
    versions a run record states (the version probe); `count_quantized(recipe, prepared, model)`, the proof
    counter: how many of the model's nn.Linear layers run quantized after the first call (None: not countable);
    `count_evidence`, what that counter reads, for the meter notes; `size_meter`, what the size column measures;
    `gap_role`, per precision kind ("fp32", "int8"), OWN or OTHER for the faster-runtime warnings (absent: not
    compared); `selfcheck`, the `swinprof selfcheck` path that runs it end to end; `tested_by`, the test
    (`tests/...py::test_name`) that holds its output to fp32 PyTorch's; `candidates`, the preset recipes (names,
    or paths of TOML files) of its unquantized deployments, which `swinprof run native` tries wherever they run
    natively (a method lists its own); `methods_of`, another runtime whose methods this one also runs (its form
    of the model is the same, e.g. the fp32 ONNX file).
    """

    devices: tuple[str, ...]
    extra: str | None = None
    modules: tuple[str, ...] = ()
    summary: str = ""
    compiles: bool = False
    dispatcher: bool = False
    needs: Callable[[Recipe], tuple[str, ...]] | None = None
    validate: Callable[[Recipe], None] | None = None
    check: Callable[[Recipe], None] | None = None
    title: str = ""
    packages: tuple[str, ...] = ()
    count_quantized: Callable[[Recipe, Prepared, nn.Module], QuantizedCount | None] | None = None
    count_evidence: str = ""
    size_meter: str = ""
    gap_role: dict[str, str] = field(default_factory=dict, hash=False)
    selfcheck: str | None = None
    uncountable: str = ""  # why there is no proof counter (a runtime without one must say)
    tested_by: str = ""
    autocasts: bool = False
    candidates: tuple[str, ...] = ()
    methods_of: str = ""  # also takes the methods registered for this runtime (same form of the model)


@dataclass
class MethodJob:
    """The input of a method handler.

    `model` is the fp32 eval-mode model (never modified; module names select layers); `work` is the runtime's
    current form of it (an `nn.Module`, or the path of the fp32 ONNX file). `include` / `skip` are module-name
    globs; `reduce_range` is `auto` / `true` / `false`; `calibration` holds `(B, 3, H, W)` batches for
    calibrated methods; files go into `workdir` named after `name`; `precision` is the recipe's target precision
    (what the parts the method leaves unquantized compute in, e.g. fp16 around the int8 GEMMs of a TensorRT file).
    """

    model: nn.Module
    work: Any
    include: Sequence[str] = ("*",)
    skip: Sequence[str] = ()
    reduce_range: str = "auto"
    calibration: Sequence[torch.Tensor] = ()
    workdir: Path | None = None
    name: str = "model"
    compile_backend: str = "none"
    precision: str = "fp32"

    @classmethod
    def from_recipe(cls, recipe: Recipe, model: nn.Module, work: Any, calibration, workdir: Path | None):
        q = recipe.quantize
        return cls(model, work, q.include, q.skip, q.reduce_range, list(calibration), workdir, recipe.name,
                   recipe.compile.backend, recipe.target.precision)  # fmt: skip


@dataclass
class Quantized:
    """What a method handler returns: the new form of the model, the names of the layers it quantized, notes
    for the report, its deployable size when the runtime cannot infer it, and an integer precision the runtime
    must enable (TensorRT builds int8 engines only when asked)."""

    work: Any
    layers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    precision: str | None = None


@dataclass(frozen=True)
class Method:
    name: str
    spec: MethodSpec
    handler: Callable[[MethodJob], Quantized]


@dataclass(frozen=True)
class Runtime:
    name: str
    spec: RuntimeSpec
    handler: Callable[..., Prepared]


_METHODS: dict[str, Method] = {}
_RUNTIMES: dict[str, Runtime] = {}
_loaded = False


def register_method(name: str, spec: MethodSpec):
    """Decorator: register the handler `fn(job: MethodJob) -> Quantized` as method `name`."""

    def register(fn: Callable[[MethodJob], Quantized]):
        if name in _METHODS:
            raise ValueError(f"quantization method {name!r} is registered twice")
        _METHODS[name] = Method(name, spec, fn)
        return fn

    return register


def register_runtime(name: str, spec: RuntimeSpec):
    """Decorator: register `fn(recipe, model, calibration, workdir) -> Prepared` as runtime `name`."""

    def register(fn: Callable[..., Prepared]):
        if name in _RUNTIMES:
            raise ValueError(f"runtime {name!r} is registered twice")
        _RUNTIMES[name] = Runtime(name, spec, fn)
        return fn

    return register


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True  # before importing: the modules read nothing from the registry while they load
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def methods() -> dict[str, Method]:
    """Every registered method by name, `none` first."""
    _load_builtin()
    return dict(_METHODS)


def runtimes() -> dict[str, Runtime]:
    """Every registered runtime by name: the built-in ones in BUILTIN_MODULES order (`pytorch` first, whichever
    module a caller imported first), then any other in registration order."""
    _load_builtin()
    rank = {module: i for i, module in enumerate(BUILTIN_MODULES)}
    order = sorted(_RUNTIMES.values(), key=lambda r: rank.get(getattr(r.handler, "__module__", None), len(rank)))
    return {r.name: r for r in order}


def get_method(name: str) -> Method:
    found = methods()
    if name not in found:
        raise RecipeError(f"unknown quantization method {name!r}; choose one of: {', '.join(found)}")
    return found[name]


def get_runtime(name: str) -> Runtime:
    found = runtimes()
    if name not in found:
        raise RecipeError(f"unknown runtime {name!r}; choose one of: {', '.join(found)}")
    return found[name]


def unregister_runtime(name: str) -> None:
    """Remove a runtime and the methods registered for it (tests that register a throwaway one clean up)."""
    _RUNTIMES.pop(name, None)
    for method in [m for m, entry in _METHODS.items() if entry.spec.runtime == name]:
        del _METHODS[method]


def registered_packages() -> tuple[str, ...]:
    """The pip distributions a run record states versions of: swinprof, then each runtime's packages followed by
    those of its methods, in registration order."""
    names = ["swinprof"]
    for runtime in runtimes().values():
        names += runtime.spec.packages
        names += [p for m in methods().values() if m.spec.runtime == runtime.name for p in m.spec.packages]
    return tuple(dict.fromkeys(names))


def method_kind(name: str) -> str | None:
    """The precision kind method `name` runs its quantized layers in (None: it quantizes nothing)."""
    return get_method(name).spec.kind


def apply_method(name: str, job: MethodJob) -> Quantized:
    """Run method `name`'s handler on `job` (the library's `quantize_`)."""
    return get_method(name).handler(job)


NO_QUANTIZATION = MethodSpec(ANY_RUNTIME, ("cpu", "cuda"), summary="no quantization (fp32 or the target precision)")


@register_method("none", NO_QUANTIZATION)
def no_quantization(job: MethodJob) -> Quantized:
    """The model as the runtime built it."""
    return Quantized(job.work)
