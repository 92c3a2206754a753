"""Reading the project's TOML files (recipes, benchmark suites) with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a declared dependency there
    import tomli as tomllib

from swinprof.errors import SwinprofError


def read_toml(path: str | os.PathLike, error: type[SwinprofError], missing: str) -> dict:
    """Parse the TOML file at `path`; a missing file raises `error(missing)`, a broken one names the file."""
    path = Path(path)
    if not path.is_file():
        raise error(missing)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from exc
