"""Where the preset recipes live, and the listing behind `swinprof recipes`.

The canonical files are the top-level `recipes/*.toml` of the repository (users copy and edit them).
`swinprof/recipes` is a symlink to that folder, so a built wheel (package-data `recipes/*.toml`) carries
copies of the same files; the loader looks in the package first and the repository second, and a preset
can always be named either by its name (`int8-x86-cpu`) or by a path to any TOML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from swinprof.errors import RecipeError
from swinprof.optimize.methods import methods
from swinprof.optimize.recipe import Recipe, load_recipe, parse_recipe
from swinprof.tomlfile import read_toml

if TYPE_CHECKING:
    import pandas as pd

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def recipe_dirs() -> list[Path]:
    """Folders searched for preset recipes, first match wins."""
    dirs = [_PACKAGE_DIR / "recipes", _PACKAGE_DIR.parent / "recipes"]
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def preset_paths() -> dict[str, Path]:
    """Preset name (file stem) -> file, over every recipe folder."""
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for path in sorted(d.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def resolve_recipe_path(name_or_path: str) -> Path:
    """A path to an existing file, or the name of a preset; a clear error listing the presets otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    presets = preset_paths()
    if os.sep in name_or_path or (os.altsep and os.altsep in name_or_path):
        # A path that does not exist must never quietly run the preset of the same file name.
        raise RecipeError(f"recipe file {name_or_path!r} does not exist; presets: {', '.join(presets) or '(none)'}")
    stem = path.stem if path.suffix == ".toml" else name_or_path
    if stem in presets:
        return presets[stem]
    raise RecipeError(f"no recipe file or preset named {name_or_path!r}; presets: {', '.join(presets) or '(none)'}")


def get_recipe(name_or_path: str) -> Recipe:
    return load_recipe(resolve_recipe_path(name_or_path))


def _describe(path: Path) -> dict:
    """One listing row; a benchmark suite (`[suite]`) is shown, not validated; a broken file shows its error."""
    row = {"name": path.stem, "kind": "", "method": "", "runtime": "", "device": "", "compile": "", "description": ""}
    try:
        data = read_toml(path, RecipeError, f"{path} disappeared while listing")
    except RecipeError as exc:
        return row | {"kind": "invalid", "description": str(exc)}
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    if "suite" in data:
        suite = data["suite"] if isinstance(data["suite"], dict) else {}
        text = meta.get("description") or suite.get("description") or "benchmark suite for the regression tracker"
        return row | {"kind": "benchmark suite", "description": str(text)}
    try:
        r = parse_recipe(data, source=path.name)
    except RecipeError as exc:
        return row | {"kind": "invalid", "description": str(exc)}
    compile_ = "none" if r.compile.backend == "none" else f"{r.compile.backend}:{r.compile.mode}"
    return row | {
        "kind": "recipe",
        "method": r.quantize.method,
        "runtime": r.target.runtime,
        "device": r.target.device,
        "compile": compile_,
        "description": r.meta.description,
    }


def recipe_table() -> pd.DataFrame:
    """Every preset recipe file with what it does (`swinprof recipes`)."""
    import pandas as pd

    rows = [_describe(p) for p in preset_paths().values()]
    return pd.DataFrame(rows, columns=["name", "kind", "method", "runtime", "device", "compile", "description"])


def method_table() -> pd.DataFrame:
    """Every registered quantization method with its runtime, devices, extra and needs (`swinprof recipes`)."""
    import pandas as pd

    rows = []
    for name, m in methods().items():
        s = m.spec
        cc = ".".join(map(str, s.min_cuda_capability)) if s.min_cuda_capability else ""
        rows.append({"method": name, "runtime": s.runtime, "devices": "/".join(s.devices), "extra": s.extra or "",
                     "calibrated": s.calibrated, "min CUDA capability": cc, "summary": s.summary})  # fmt: skip
    return pd.DataFrame(rows)
