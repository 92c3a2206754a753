"""Which recipes run natively on this machine, and the candidate set that `swinprof run native` tries.

A recipe computes in its method's kind (`MethodSpec.kind`: int8, fp8) and, for everything its method leaves
alone, in its `[target] precision` (fp32, bf16, fp16). It runs natively on its device when every one of those does
(`swinprof.measure.native`: e.g. bf16 needs AVX512_BF16 or AMX-BF16 on a CPU) and the machine meets its
requirements (`check_requirements`: device, pip extras, the runtime's own check).

The candidate set answers "what should I deploy on this machine?": the preset recipes the registry declares as
deployments (`RuntimeSpec.candidates`, then `MethodSpec.candidates` of that runtime's methods, runtime by runtime),
kept where they are for the asked device and run natively here, with fp32 eager first as the baseline. A runtime
or method registered with candidates joins the set; no command names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from swinprof.errors import RecipeError, SwinprofError
from swinprof.measure.native import Support, support
from swinprof.optimize.methods import methods, runtimes
from swinprof.optimize.presets import get_recipe, preset_paths
from swinprof.optimize.recipe import Recipe, check_requirements, load_recipe

# The recipe-set name that expands to the candidate set wherever a list of recipes is given (no preset has it).
NATIVE = "native"
# The baseline every candidate is timed against (the preset `swinprof run` compares with).
BASELINE_PRESET = "fp32-eager"


def recipe_precisions(recipe: Recipe) -> tuple[str, ...]:
    """The number formats `recipe`'s layers compute in: its method's kind first (if it quantizes), then the
    target precision of the rest, e.g. ("int8", "fp32") for int8-x86-cpu, ("bf16",) for bf16-autocast-cpu."""
    kind = recipe.method.kind
    return tuple(dict.fromkeys([kind, recipe.target.precision] if kind else [recipe.target.precision]))


def native_support(recipe: Recipe) -> list[Support]:
    """How this machine's device of `recipe` runs each of its formats (`recipe_precisions`)."""
    return [support(p, recipe.target.device) for p in recipe_precisions(recipe)]


def native_cell(recipe: Recipe | None) -> str:
    """Whether `recipe` (None: the fp32 eager baseline) runs natively here, for a table cell: `yes`,
    `yes (AVX2, no VNNI)`, `no (bf16 emulated)`."""
    if recipe is None:
        return "yes"
    found = native_support(recipe)
    missing = [s for s in found if not s.native]
    if missing:
        return missing[0].cell
    details = [s.detail for s in found if s.detail]
    return f"yes ({'; '.join(details)})" if details else "yes"


def why_not_here(recipe: Recipe) -> str | None:
    """Why `recipe` cannot run natively on this machine, in a few words (None: it can): the formats its device
    would emulate (`bf16 emulated`; the report header says why), else the requirement it does not meet."""
    missing = [s for s in native_support(recipe) if not s.native]
    if missing:
        return ", ".join(dict.fromkeys(s.detail for s in missing))
    try:
        check_requirements(recipe)
    except SwinprofError as exc:
        return str(exc)
    return None


def native_presets() -> tuple[list[str], dict[str, str]]:
    """The preset recipes that run natively on this machine (each on its own device), and the others with why
    (benchmark suites and invalid files are not recipes and appear in neither)."""
    keep, left_out = [], {}
    for name, path in preset_paths().items():
        try:
            recipe = load_recipe(path)
        except RecipeError:
            continue
        why = why_not_here(recipe)
        if why is None:
            keep.append(name)
        else:
            left_out[name] = why
    return keep, left_out


def declared_candidates() -> list[str]:
    """Every candidate the registry declares, runtime by runtime (its own, then its methods'), each once."""
    names: list[str] = []
    for runtime in runtimes().values():
        names += runtime.spec.candidates
        names += [c for m in methods().values() if m.spec.runtime == runtime.name for c in m.spec.candidates]
    return list(dict.fromkeys(names))


@dataclass
class CandidateSet:
    """The recipes `swinprof run native` times on `device` (the fp32 eager baseline first), and the declared
    candidates for that device left out, with why (`left_out`: name -> one line)."""

    device: str
    recipes: list[Recipe]
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.recipes]

    def describe(self) -> str:
        """The set in words, for a report note."""
        text = (f"{NATIVE}: every recipe the registry declares for deployment that runs natively on this machine's "
                f"{self.device} ({', '.join(self.names)}; {BASELINE_PRESET} is the baseline)")  # fmt: skip
        if self.left_out:
            text += "; left out: " + ", ".join(f"{n} ({why})" for n, why in self.left_out.items())
        return text


def native_candidates(device: str = "cpu") -> CandidateSet:
    """The declared candidates for `device` (`cpu` or `cuda`) that run natively here, fp32 eager first."""
    base = get_recipe(BASELINE_PRESET)
    if base.target.device != device:
        base = base.replace("target", device=device)
    found = CandidateSet(device, [base])
    for name in declared_candidates():
        recipe = get_recipe(name)
        if recipe.target.device != device or recipe.name == base.name:
            continue
        why = why_not_here(recipe)
        if why is None:
            found.recipes.append(recipe)
        else:
            found.left_out[recipe.name] = why
    return found


def expand_recipes(names: Sequence[str], device: str | None = None) -> tuple[list[Recipe], CandidateSet | None]:
    """Recipes for `names` (preset names or TOML files; `native` stands for the candidate set on `device`,
    default cpu), each once in the order given, and the candidate set when `native` was among them."""
    recipes: dict[str, Recipe] = {}
    found = None
    for name in names:
        if name == NATIVE:
            found = native_candidates(device or "cpu")
            chosen = found.recipes
        else:
            chosen = [get_recipe(name)]
        for recipe in chosen:
            recipes.setdefault(recipe.name, recipe)
    return list(recipes.values()), found
