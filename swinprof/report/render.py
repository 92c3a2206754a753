"""DataFrame -> markdown / csv / json text. Pure functions; writing files is `swinprof.files`' job."""

from __future__ import annotations

import json
import math
import re

import pandas as pd


def format_cell(value) -> str:
    """Human formatting: blanks for missing values, thousands separators for ints, 4 significant floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def format_column(values, header: str = "") -> list[str]:
    """One column's cells with one format (the terminal's tables): float columns share their decimals, enough
    for three significant digits of the smallest magnitude (2 to 4); a column with values under 0.001 (errors)
    is all in scientific notation. Sizes (a header naming MiB or MB) always take 2 decimals, so one size prints
    the same in every command's table. Other columns as `format_cell`."""
    values = list(values)
    if re.search(r"\bMi?B\b", header) and all(isinstance(v, float) or v is None for v in values):
        return ["" if _blank(v) else f"{v:,.2f}" for v in values]
    floats = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if not floats or any(not isinstance(v, float) and v is not None for v in values):
        return [format_cell(v) for v in values]
    smallest = min((abs(v) for v in floats if v != 0), default=1.0)
    if smallest < 1e-3 or max(abs(v) for v in floats) >= 1e9:
        return ["" if _blank(v) else "0" if v == 0 else f"{v:.3e}" for v in values]
    decimals = min(4, max(2, 2 - math.floor(math.log10(smallest))))
    return ["" if _blank(v) else f"{v:,.{decimals}f}" for v in values]


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def to_markdown(df: pd.DataFrame, title: str | None = None) -> str:
    """A GitHub-flavoured markdown table (pipes in cells escaped)."""
    cols = [str(c) for c in df.columns]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for row in df.itertuples(index=False):
        cells = [format_cell(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def _json_value(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def to_records(df: pd.DataFrame) -> list[dict]:
    return [{str(k): _json_value(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def to_json(df: pd.DataFrame, title: str | None = None) -> str:
    return json.dumps({"title": title, "rows": to_records(df)}, indent=2)
