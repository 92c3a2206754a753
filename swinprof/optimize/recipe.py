"""Quantize / compile / deploy recipes: the TOML schema as frozen dataclasses, and its validation.

A recipe file has the tables `[meta] [model] [target] [quantize] [quantize.calibration] [compile] [export]
[tensorrt] [evaluate] [benchmark]`; every key is optional and defaults to the fp32 eager baseline. Validation
happens in two steps, both before any model is built:
1. `parse_recipe` — the schema: unknown tables/keys (the valid ones listed), wrong types, values outside their
   choices, methods that do not fit the runtime.
2. `check_requirements` — this machine: CUDA present, compute capability for fp8, the pip extra installed.
Benchmark-suite files (a top-level `[suite]` table, owned by the regression tracker) are listed, not validated here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swinprof.errors import DeviceUnavailableError, MissingExtraError, RecipeError
from swinprof.optimize.methods import ANY_RUNTIME, MethodSpec, get_method, get_runtime, methods, runtimes
from swinprof.tomlfile import read_toml

# Modules left in floating point unless a recipe says otherwise (fnmatch globs on module names; a glob that
# matches a module also covers its children): the 4x4 patch-embedding conv and the classifier see the raw image
# and produce the logits (both sensitive, both tiny in cost); v1 bias tables and v2's continuous position-bias
# MLP are evaluated once per window shape, cost nothing at inference and carry the positional signal.
DEFAULT_SKIP = ("patch_embed", "head", "*.relative_position_bias_table", "*.cpb_mlp")


def _choices(*values) -> dict:
    return {"choices": values}


def _registered(names: Callable[[], dict]) -> dict:
    """Choices read from the method/runtime registry when a recipe is validated (handlers register on import)."""
    return {"choices": lambda: tuple(names())}


@dataclass(frozen=True)
class MetaSection:
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class ModelSection:
    """Defaults for the model; `--model` / `--res` on the command line override them."""

    name: str = "swin_s"
    img_size: int | None = field(default=None, metadata={"min": 32})
    attn_impl: str = "reference"


@dataclass(frozen=True)
class TargetSection:
    device: str = field(default="cpu", metadata=_choices("cpu", "cuda"))
    runtime: str = field(default="pytorch", metadata=_registered(runtimes))
    # Floating-point precision of the non-quantized parts (TensorRT builds fp16 engines with "fp16").
    precision: str = field(default="fp32", metadata=_choices("fp32", "fp16", "bf16"))
    # Run in torch.autocast at `precision` (matmuls, linears and convs in it; LayerNorm, softmax and the weights in
    # fp32) instead of casting the whole model: PyTorch's mixed precision, what a bf16 CPU runs best.
    autocast: bool = False


@dataclass(frozen=True)
class CalibrationSection:
    """Where calibration batches come from: `data` (the images given with --data), `random`, or `auto`."""

    source: str = field(default="auto", metadata=_choices("auto", "data", "random"))
    count: int = field(default=32, metadata={"min": 1})
    batch_size: int = field(default=8, metadata={"min": 1})


BUDGET_METRICS = ("none", "sqnr", "top1-agreement", "accuracy")
# metric -> (unit, largest sensible `min`); `max_drop` is the fall from fp32 in the same unit.
_BUDGET_RANGE = {"sqnr": ("dB", 200.0), "top1-agreement": ("fraction", 1.0), "accuracy": ("acc@1 points", 100.0)}


@dataclass(frozen=True)
class BudgetSection:
    """An accuracy budget (`budget = { metric = "sqnr", min = 30 }`): `swinprof run` searches, from the
    sensitivity ranking, the largest set of layers to quantize whose model meets it on held-out inputs, and
    writes the layers it leaves in fp32 into the resolved recipe's `skip`. `min`: the lowest acceptable value
    (SQNR dB, top-1 agreement fraction, acc@1 %); `max_drop`: the largest fall from fp32 (agreement, accuracy
    points). `samples`: inputs in each of the search and held-out sets."""

    metric: str = field(default="none", metadata=_choices(*BUDGET_METRICS))
    min: float | None = None
    max_drop: float | None = None
    samples: int = field(default=8, metadata={"min": 1})


@dataclass(frozen=True)
class QuantizeSection:
    method: str = field(default="none", metadata=_registered(methods))
    include: tuple[str, ...] = ("*",)
    skip: tuple[str, ...] = DEFAULT_SKIP
    # x86 without VNNI computes u8*s8 products in int16 (vpmaddubsw) which saturates: use 7-bit activations there.
    reduce_range: str = field(default="auto", metadata=_choices("auto", "true", "false"))
    calibration: CalibrationSection = CalibrationSection()
    budget: BudgetSection = BudgetSection()


@dataclass(frozen=True)
class CompileSection:
    backend: str = field(default="none", metadata=_choices("none", "inductor"))
    mode: str = field(
        default="default", metadata=_choices("default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead")
    )
    freezing: bool = False  # inductor constant-folds weights (required for PT2E int8 weight prepacking)
    fullgraph: bool = False
    # One graph for every batch size >= 2 (and one for batch 1) instead of one per batch size: a batch ladder
    # compiles twice, not once per rung, with kernels not specialised to each size.
    dynamic_batch: bool = False


@dataclass(frozen=True)
class ExportSection:
    """ONNX export settings (also the graph handed to trtexec)."""

    opset: int = field(default=18, metadata={"min": 13})
    dynamic_batch: bool = True
    exporter: str = field(default="dynamo", metadata=_choices("dynamo", "torchscript"))


@dataclass(frozen=True)
class TensorRTSection:
    workspace_gb: float = field(default=2.0, metadata={"min": 0.0})
    min_block_size: int = field(default=1, metadata={"min": 1})
    max_batch: int = field(default=32, metadata={"min": 2})


@dataclass(frozen=True)
class EvaluateSection:
    fidelity_samples: int = field(default=16, metadata={"min": 1})
    limit: int | None = field(default=None, metadata={"min": 1})
    batch_size: int = field(default=16, metadata={"min": 1})


@dataclass(frozen=True)
class BenchmarkSection:
    batch_sizes: tuple[int, ...] = (1,)
    warmup: int = field(default=3, metadata={"min": 0})
    iters: int = field(default=20, metadata={"min": 1})


@dataclass(frozen=True)
class Recipe:
    meta: MetaSection = MetaSection()
    model: ModelSection = ModelSection()
    target: TargetSection = TargetSection()
    quantize: QuantizeSection = QuantizeSection()
    compile: CompileSection = CompileSection()
    export: ExportSection = ExportSection()
    tensorrt: TensorRTSection = TensorRTSection()
    evaluate: EvaluateSection = EvaluateSection()
    benchmark: BenchmarkSection = BenchmarkSection()

    @property
    def name(self) -> str:
        return self.meta.name or "recipe"

    @property
    def method(self) -> MethodSpec:
        """The registered spec of `[quantize].method`."""
        return get_method(self.quantize.method).spec

    def replace(self, section: str, **changes) -> Recipe:
        """A copy with `changes` applied to one section (validated like a file), e.g. `replace("model", name=..)`."""
        current = to_dict(self)
        current.setdefault(section, {}).update({k: v for k, v in changes.items() if v is not None})
        return parse_recipe(current, source=f"{self.name} (with overrides)")


# ---------------------------------------------------------------------------------------------- parsing


def _expected_types(cls) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _check_value(value, hint, where: str):
    """Coerce/validate one TOML value against a field's type hint; raise RecipeError naming `where`."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if value is None else _check_value(value, inner, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise RecipeError(f"{where} must be a list, got {value!r}")
        return tuple(_check_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RecipeError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, bool):  # `reduce_range = true` reads naturally; keep the string choices uniform
            return str(value).lower()
        if not isinstance(value, str):
            raise RecipeError(f"{where} must be a string, got {value!r}")
        return value
    raise AssertionError(f"unhandled schema type {hint!r}")  # a schema bug, not user input


def _build(cls, table: dict, tables: tuple[str, ...] = ()):
    """Instantiate section dataclass `cls` from a TOML table; `tables` is its path, e.g. ("quantize", "calibration")."""
    where = f"[{'.'.join(tables)}]" if tables else "the recipe"
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _expected_types(cls)
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(fields)}")
    kwargs = {}
    for key, value in table.items():
        f, hint = fields[key], hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, (*tables, key))
            continue
        path = f"{where}.{key}"
        value = _check_value(value, hint, path)
        choices = f.metadata.get("choices")
        if callable(choices):
            choices = choices()
        if choices is not None and value not in choices:
            raise RecipeError(f"{path} = {value!r} is not valid; choose one of: {', '.join(choices)}")
        low = f.metadata.get("min")
        if low is not None and value is not None and value < low:
            raise RecipeError(f"{path} = {value!r} must be at least {low}")
        kwargs[key] = value
    return cls(**kwargs)


def parse_recipe(data: dict, source: str = "recipe") -> Recipe:
    """Validate a recipe mapping (as read from TOML) against the schema; RecipeError names the first problem."""
    if "suite" in data:
        raise RecipeError(f"{source} is a benchmark suite ([suite] table), not a quantize/compile recipe")
    try:
        recipe = _build(Recipe, data)
    except RecipeError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    _check_consistency(recipe, source)
    return recipe


def _check_consistency(r: Recipe, source: str) -> None:
    """Combinations the schema alone cannot express (method vs runtime, compile vs runtime, batch sizes), then
    the checks the recipe's runtime registered."""
    spec, runtime = r.method, get_runtime(r.target.runtime)
    if spec.runtime not in (ANY_RUNTIME, runtime.name, runtime.spec.methods_of or runtime.name):
        raise RecipeError(
            f"{source}: [quantize].method {r.quantize.method!r} runs on runtime {spec.runtime!r}, but "
            f"[target].runtime is {runtime.name!r}: set [target] runtime = {spec.runtime!r}"
        )
    if r.compile.backend != "none" and not runtime.spec.compiles:
        compiling = ", ".join(n for n, rt in runtimes().items() if rt.spec.compiles)
        raise RecipeError(
            f"{source}: [compile].backend applies to the {compiling} runtime only; remove it for {runtime.name}"
        )
    if r.target.autocast and not runtime.spec.autocasts:
        autocasting = ", ".join(n for n, rt in runtimes().items() if rt.spec.autocasts)
        raise RecipeError(f"{source}: [target].autocast applies to the {autocasting} runtime only; remove it for "
                          f"{runtime.name} (its [target].precision says what it runs in)")  # fmt: skip
    if r.target.autocast and r.target.precision == "fp32":
        raise RecipeError(f"{source}: [target].autocast needs a lower precision: set [target] precision = 'bf16' "
                          "(or 'fp16')")  # fmt: skip
    if not r.benchmark.batch_sizes or any(b < 1 for b in r.benchmark.batch_sizes):
        raise RecipeError(f"{source}: [benchmark].batch_sizes must be a non-empty list of positive integers")
    _check_budget(r.quantize.budget, source)
    if runtime.spec.validate is not None:
        try:
            runtime.spec.validate(r)
        except RecipeError as exc:
            raise RecipeError(f"{source}: {exc}") from None


def _check_budget(b: BudgetSection, source: str) -> None:
    """One of `min` / `max_drop` for a metric, inside the metric's range; none without a metric."""
    where = f"{source}: [quantize].budget"
    if b.metric == "none":
        if b.min is not None or b.max_drop is not None:
            raise RecipeError(
                f"{where} sets a limit but no metric; add metric = one of {', '.join(BUDGET_METRICS[1:])}"
            )
        return
    unit, top = _BUDGET_RANGE[b.metric]
    if (b.min is None) == (b.max_drop is None):
        raise RecipeError(f"{where}: give exactly one of min or max_drop for metric {b.metric!r}")
    if b.min is not None and not 0 < b.min <= top:
        raise RecipeError(f"{where}.min = {b.min:g} is out of range for {b.metric} ({unit}): choose 0 < min <= {top:g}")
    if b.max_drop is not None:
        if b.metric == "sqnr":
            raise RecipeError(f"{where}: sqnr has no drop (fp32 is infinite); use min (dB), e.g. min = 30")
        if not 0 <= b.max_drop < top:
            raise RecipeError(f"{where}.max_drop = {b.max_drop:g} is out of range for {b.metric} ({unit}): "
                              f"choose 0 <= max_drop < {top:g}")  # fmt: skip


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe TOML file."""
    path = Path(path)
    missing = f"recipe file {str(path)!r} does not exist; `swinprof recipes` lists the presets"
    data = read_toml(path, RecipeError, missing)
    recipe = parse_recipe(data, source=path.name)
    if not recipe.meta.name:
        recipe = dataclasses.replace(recipe, meta=dataclasses.replace(recipe.meta, name=path.stem))
    return recipe


def to_dict(recipe) -> dict:
    """The fully resolved recipe as nested plain dicts/lists (every default filled in)."""
    out = {}
    for f in dataclasses.fields(recipe):
        value = getattr(recipe, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


# ---------------------------------------------------------------------------------------------- machine checks


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_requirements(recipe: Recipe) -> None:
    """Raise before any work if this machine cannot run `recipe`: device, pip extras, CUDA, capability, and the
    runtime's own machine check (e.g. bf16 only on a CPU that computes it natively).

    Everything is read from the registry: the method's and the runtime's devices, extras, modules and check.
    """
    import torch

    spec, target = recipe.method, recipe.target
    runtime = get_runtime(target.runtime)
    label = f"recipe {recipe.name!r}"
    if target.device not in spec.devices:
        raise DeviceUnavailableError(
            f"{label}: method {recipe.quantize.method!r} runs on {'/'.join(spec.devices)} only, not {target.device}"
        )
    if target.device not in runtime.spec.devices:
        allowed = "/".join(runtime.spec.devices)
        raise DeviceUnavailableError(
            f"{label}: runtime {runtime.name!r} runs on {allowed} only: set [target] device = {allowed!r}"
        )
    needed = [(m, runtime.spec.extra) for m in runtime.spec.modules]
    needed += [(m, runtime.spec.extra) for m in (runtime.spec.needs(recipe) if runtime.spec.needs else ())]
    needed.append((spec.module, spec.extra))
    for module, extra in needed:
        if module and not _has_module(module):
            raise MissingExtraError(f"{label} needs the '{module}' package: pip install 'swinprof[{extra}]'")
    if runtime.spec.check is not None:
        runtime.spec.check(recipe)
    if target.device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"{label} needs a CUDA GPU and none is available here (try a *-cpu recipe)")
    if spec.min_cuda_capability is not None:
        cc = torch.cuda.get_device_capability()
        if cc < spec.min_cuda_capability:
            need = ".".join(map(str, spec.min_cuda_capability))
            raise DeviceUnavailableError(
                f"{label}: {recipe.quantize.method} needs CUDA compute capability >= {need} (Ada/Hopper); "
                f"this GPU is {cc[0]}.{cc[1]}"
            )


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(recipe: Recipe) -> str:
    """The resolved recipe as a TOML file that `load_recipe` reads back to an equal Recipe (None keys omitted)."""
    lines: list[str] = []

    def table(name: str, data: dict) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and v is not None}
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        lines.append("")
        for k, v in data.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for section, data in to_dict(recipe).items():
        table(section, data)
    return "\n".join(lines)
