"""Checks of decoded JSON (results files, history lines): the right type at every level, or one ResultsError.

The readers check every field they or their callers use, so a file with the right top level but wrong inner
types (`"cases": 5`, `"environment": []`, a list where a string belongs, NaN or zero medians) fails as it is
read, with the field named, instead of deep inside a statistic.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

from swinprof.errors import ResultsError

# Results files and history stores hold summaries and samples: megabytes, not gigabytes.
MAX_JSON_BYTES = 256 * 2**20
SCALAR = (str, int, float, bool, type(None))


def read_json_text(path: str | os.PathLike, what: str) -> str:
    """The text of a JSON file no larger than MAX_JSON_BYTES (a larger one is refused before it is read)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ResultsError(f"{p}: {size / 2**20:,.0f} MiB is too large for a {what} (at most "
                               f"{MAX_JSON_BYTES // 2**20} MiB)")  # fmt: skip
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{p}: not UTF-8 text ({exc.reason}); the {what} is damaged") from exc
    except OSError as exc:
        raise ResultsError(f"{p}: cannot read the {what} ({exc.strerror or exc})") from exc


def decode(text: str, where: str) -> object:
    """`json.loads`, with damaged or absurdly nested documents as one ResultsError."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ResultsError(f"{where} is not valid JSON ({reason}); the file was edited or damaged") from exc


def fail(where: str, field: str, rule: str, value: object) -> ResultsError:
    shown = repr(value)
    return ResultsError(f"{where}: {field} must be {rule}, got {shown[:60]}{'...' if len(shown) > 60 else ''}")


def need_dict(value: object, where: str, field: str) -> dict:
    if not isinstance(value, dict):
        raise fail(where, field, "an object", value)
    return value


def need_str(value: object, where: str, field: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise fail(where, field, "a non-empty string" + (" or null" if optional else ""), value)
    return value


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def need_number(value: object, where: str, field: str, low: float = 0.0, strict: bool = False) -> float:
    """A finite number >= low (> low with `strict`)."""
    if not is_number(value) or value < low or (strict and value == low):
        raise fail(where, field, f"a finite number {'>' if strict else '>='} {low:g}", value)
    return float(value)


def need_samples(value: object, where: str, field: str, positive: bool) -> list[float]:
    """A list of finite timings in ms: all > 0 (`positive`), else >= 0 with a median > 0 (a clock's granularity
    may read 0 for one call, but a case whose typical call reads 0 cannot be compared)."""
    if not isinstance(value, list) or not all(is_number(s) and s >= 0 for s in value):
        raise fail(where, field, "a list of finite non-negative numbers (ms)", value)
    samples = [float(s) for s in value]
    if samples and (min(samples) <= 0 if positive else statistics.median(samples) <= 0):
        raise fail(where, field, "samples above 0 ms" if positive else "samples with a median above 0 ms", value)
    return samples


def need_scalars(value: object, where: str, field: str) -> dict:
    """An object whose values are strings, numbers, booleans or null (an environment record)."""
    d = need_dict(value, where, field)
    for key, v in d.items():
        if not isinstance(v, SCALAR) or (isinstance(v, float) and not math.isfinite(v)):
            raise fail(where, f"{field}.{key}", "a string, number, boolean or null", v)
    return d
