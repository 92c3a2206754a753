"""Benchmark suites: a TOML file of cases (model x res x batch x attn x recipe) and how to time them.

A suite file has a `[suite]` table (name, description, device, threads, warmup, samples) and a list of
`[[cases]]`. In a case, `model`, `res`, `batch`, `attn` and `recipe` may each be a value or a list; a case
with lists expands to their cross product. `[cases.config]` overrides model config fields (tiny CI models).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field

from swinprof.errors import SuiteError, SwinprofError
from swinprof.measure.device import is_device_name
from swinprof.tomlfile import read_toml

RECIPE_DTYPES = ("fp32", "fp16", "bf16")
RECIPE_MODES = ("eager", "compile")
RECIPE_ALIASES = {"eager": "fp32-eager", "compile": "fp32-compile", "fp32": "fp32-eager"}
SUITE_KEYS = {"name", "description", "device", "threads", "warmup", "samples", "seed", "metric", "processes"}
METRICS = ("wall", "cpu")
CASE_KEYS = {"model", "res", "batch", "attn", "recipe", "name", "config"}
AXES = ("model", "res", "batch", "attn", "recipe")


@dataclass(frozen=True)
class Case:
    """One thing to time: a model at a resolution and batch size, with an attention impl and a recipe."""

    model: str
    res: int
    batch: int = 1
    attn: str = "reference"
    recipe: str = "fp32-eager"
    name: str | None = None
    config: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        label = f"{self.name}:{self.model}" if self.name else self.model
        return f"{label}/{self.res}/b{self.batch}/{self.attn}/{self.recipe}"

    @property
    def dtype(self) -> str:
        return self.recipe.split("-")[0]

    @property
    def mode(self) -> str:
        return self.recipe.split("-")[1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Suite:
    """A named list of cases plus how to measure them."""

    name: str
    cases: tuple[Case, ...]
    description: str = ""
    device: str = "cpu"
    threads: int = 0  # 0: leave torch's default
    warmup: int = 5
    samples: int = 30  # timed rounds; each round times every case and the calibration once
    seed: int = 0
    metric: str = "wall"  # what regress compares by default: wall-clock latency or process CPU time
    processes: int = 1  # the rounds are split over this many fresh processes (run one after another)
    path: str | None = None

    @property
    def identity(self) -> str:
        """Hash of what is measured (cases and device), not of how long: suites with equal identity compare."""
        blob = json.dumps({"name": self.name, "device": self.device, "cases": [c.to_dict() for c in self.cases]})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["cases"] = [c.to_dict() for c in self.cases]
        d["identity"] = self.identity
        return d


def normalize_recipe(recipe: str) -> str:
    """`fp32-eager`, `bf16-compile`, ... (aliases `eager`, `compile`); unknown names are a clear error."""
    recipe = RECIPE_ALIASES.get(recipe, recipe)
    from swinprof.track.recipe_case import is_recipe_case

    if is_recipe_case(recipe):  # a quantize/compile preset: timed with its fidelity (track.recipe_case)
        return recipe
    parts = recipe.split("-")
    if len(parts) != 2 or parts[0] not in RECIPE_DTYPES or parts[1] not in RECIPE_MODES:
        choices = [f"{d}-{m}" for d in RECIPE_DTYPES for m in RECIPE_MODES]
        raise SuiteError(
            f"unknown recipe {recipe!r}; choose one of: {', '.join(choices)} (or eager, compile, or a preset "
            "recipe from `swinprof recipes`)"
        )
    return recipe


def _as_list(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def _check_int(where: str, key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SuiteError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_seed(where: str, value) -> int:
    from swinprof.measure.seed import check_seed

    try:
        return check_seed(value)
    except SwinprofError as exc:
        raise SuiteError(f"{where}: {exc}") from None


def _validate_case(case: Case, where: str) -> None:
    """Check names against the registries now, so a typo fails before minutes of benchmarking."""
    from swinprof.models.attention import get_attention
    from swinprof.models.config import SwinConfig, get_variant, validate_resolution

    try:
        variant = get_variant(case.model)
        get_attention(case.attn)
        validate_resolution(case.res)
    except SwinprofError as exc:
        raise SuiteError(f"{where}: {exc}") from exc
    if "img_size" in case.config:
        raise SuiteError(f"{where}: set the resolution with res, not img_size in [cases.config]")
    unknown = set(case.config) - {f.name for f in dataclasses.fields(SwinConfig)}
    if unknown:
        raise SuiteError(f"{where}: unknown model config keys {sorted(unknown)} in [cases.config]")
    try:
        variant.config.replace(img_size=case.res, **{k: _tuple(v) for k, v in case.config.items()})
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{where}: model config does not build: {exc}") from exc


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def expand_case(raw: dict, where: str) -> list[Case]:
    """One `[[cases]]` table -> its cross product of cases."""
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: each [[cases]] entry must be a table")
    unknown = set(raw) - CASE_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {', '.join(sorted(CASE_KEYS))}")
    for key in ("model", "res"):
        if key not in raw:
            raise SuiteError(f"{where}: missing required key {key!r}")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise SuiteError(f"{where}: config must be a table of model config overrides")
    if not isinstance(raw.get("name", ""), str):
        raise SuiteError(f"{where}: name must be a string, got {raw['name']!r}")
    axes = {
        "model": _as_list(raw["model"]),
        "res": _as_list(raw["res"]),
        "batch": _as_list(raw.get("batch", 1)),
        "attn": _as_list(raw.get("attn", "reference")),
        "recipe": [normalize_recipe(str(r)) for r in _as_list(raw.get("recipe", "fp32-eager"))],
    }
    cases = []
    for model, res, batch, attn, recipe in itertools.product(*(axes[a] for a in AXES)):
        _check_int(where, "res", res, 32)
        _check_int(where, "batch", batch, 1)
        case = Case(str(model), res, batch, str(attn), recipe, raw.get("name"), dict(config))
        _validate_case(case, where)
        cases.append(case)
    return cases


def parse_suite(data: dict, path: str | None = None) -> Suite:
    """A parsed TOML document -> a validated Suite."""
    where = path or "suite"
    head = data.get("suite")
    if not isinstance(head, dict) or "name" not in head:
        raise SuiteError(f'{where}: needs a [suite] table with at least name = "..."')
    if not isinstance(head["name"], str) or not head["name"]:
        raise SuiteError(f"{where}: [suite] name must be a non-empty string, got {head['name']!r}")
    unknown = set(head) - SUITE_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown [suite] keys {sorted(unknown)}; valid: {', '.join(sorted(SUITE_KEYS))}")
    extra = set(data) - {"suite", "cases"}
    if extra:
        raise SuiteError(f"{where}: unknown top-level tables {sorted(extra)}; a suite has [suite] and [[cases]]")
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(f"{where}: no cases; add at least one [[cases]] table with model and res")
    cases = [c for i, raw in enumerate(raw_cases) for c in expand_case(raw, f"{where}: case {i + 1}")]
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SuiteError(f"{where}: duplicate cases {dupes}; give them distinct settings or a name")
    device = head.get("device", "cpu")
    if not isinstance(device, str) or not is_device_name(device):
        raise SuiteError(f"{where}: device must be cpu, cuda or cuda:N, got {device!r}")
    metric = head.get("metric", "wall")
    if metric not in METRICS or (metric == "cpu" and device != "cpu"):
        raise SuiteError(f"{where}: metric must be wall or cpu (cpu only with device cpu), got {metric!r}")
    return Suite(
        name=str(head["name"]),
        cases=tuple(cases),
        description=str(head.get("description", "")),
        device=device,
        threads=_check_int(where, "threads", head.get("threads", 0), 0),
        warmup=_check_int(where, "warmup", head.get("warmup", 5), 0),
        samples=_check_int(where, "samples", head.get("samples", 30), 2),
        seed=_check_seed(where, head.get("seed", 0)),
        metric=metric,
        processes=_check_int(where, "processes", head.get("processes", 1), 1),
        path=path,
    )


def suite_from_dict(d: dict) -> Suite:
    """Inverse of `Suite.to_dict` (worker processes receive their suite this way)."""
    names = {f.name for f in dataclasses.fields(Suite)} - {"cases"}
    cases = tuple(Case(**c) for c in d["cases"])
    return Suite(cases=cases, **{k: v for k, v in d.items() if k in names})


def load_suite(path: str | os.PathLike) -> Suite:
    """Read and validate a suite TOML file; every problem is one SuiteError line naming the file."""
    missing = f"suite file {str(path)!r} not found; see recipes/suites/ci-bench.toml for an example"
    return parse_suite(read_toml(path, SuiteError, missing), str(path))
