"""Reading the project's TOML files (recipes, benchmark suites) with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a declared dependency there
    import tomli as tomllib

from swinprof.errors import SwinprofError

# Recipes and suites are a few KiB; a larger file is not one of them (and would be parsed whole in memory).
MAX_TOML_BYTES = 4 * 2**20


def read_toml(path: str | os.PathLike, error: type[SwinprofError], missing: str) -> dict:
    """Parse the TOML file at `path`; a missing file raises `error(missing)`, a broken one names the file."""
    path = Path(path)
    if not path.is_file():
        raise error(missing)
    try:
        if path.stat().st_size > MAX_TOML_BYTES:
            raise error(f"{path}: larger than {MAX_TOML_BYTES // 2**20} MiB, not a recipe or suite file")
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise error(f"{path}: not valid TOML ({reason})") from exc
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from exc
