"""Reading key figures out of a command's `--format json` output, defensively.

Some libraries print to stdout before the json (the ONNX exporter's progress lines), so every JSON object that
starts a line of stdout is parsed; tables are found in the Report shape (`tables: [{key, title, rows}]`), the
single-frame shape (`{title, rows}`) and the memory-report shape (`sections: {key: {title, rows}}`).

A table, row or column that is missing is an error of the path (LookupError naming what was there): a renamed
column must fail the selfcheck, not print "?" beside "ok". Only a value that is present and null reads as None
(a figure the command could not measure, e.g. no SQNR without fidelity samples).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass
class TableView:
    """One table of rows, wherever in the output it came from."""

    key: str
    title: str
    rows: list[dict]


def json_documents(text: str) -> list[dict]:
    """Every JSON object in `text` that begins at the start of a line, in order (noise lines skipped)."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        start = text.find("{", pos)
        if start < 0:
            return docs
        if start > 0 and text[start - 1] != "\n":
            pos = start + 1
            continue
        try:
            doc, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        if isinstance(doc, dict):
            docs.append(doc)
        pos = end


def tables(docs: list[dict]) -> list[TableView]:
    """Every table in `docs`, in order, whichever of the three output shapes each document has."""
    found: list[TableView] = []
    for doc in docs:
        if isinstance(doc.get("tables"), list):
            found += [_view(t, t.get("key", "")) for t in doc["tables"] if isinstance(t, dict)]
        elif isinstance(doc.get("sections"), dict):
            found += [_view(s, k) for k, s in doc["sections"].items() if isinstance(s, dict)]
        elif isinstance(doc.get("rows"), list):
            found.append(_view(doc, ""))
    return found


def _view(table: dict, key: str) -> TableView:
    rows = [r for r in table.get("rows") or [] if isinstance(r, dict)]
    return TableView(str(key), str(table.get("title") or ""), rows)


def find_table(docs: list[dict], *words: str) -> TableView:
    """The first table whose key or title contains one of `words` (case-insensitive); LookupError naming
    what was there otherwise."""
    views = tables(docs)
    for view in views:
        text = f"{view.key} {view.title}".lower()
        if any(w.lower() in text for w in words):
            return view
    seen = ", ".join(repr(v.key or v.title) for v in views) or "no table at all"
    raise LookupError(f"no table matching {' / '.join(words)} in the json output ({seen})")


def find_row(view: TableView, column: str, *values: str) -> dict:
    """The first row of `view` whose `column` equals (or starts with) one of `values`."""
    for row in view.rows:
        cell = str(row.get(column, ""))
        if any(cell == v or cell.startswith(v) for v in values):
            return row
    raise LookupError(f"no row with {column} = {' / '.join(values)} in table {view.key or view.title!r}")


def cell(row: dict, *columns: str):
    """The value of the first of `columns` present in `row`; LookupError naming the row's columns when none is."""
    for column in columns:
        if column in row:
            return row[column]
    raise LookupError(f"no column {' / '.join(map(repr, columns))} in the json output (columns: {', '.join(row)})")


def number(row: dict, *columns: str) -> float | None:
    """Like `cell`, as a float (None when the value is null or not a number)."""
    value = cell(row, *columns)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value: float | None, spec: str, column: str) -> str:
    """`value` formatted with `spec`, or a note that the command reported no value in `column`."""
    if value is None:
        return f"n/a (no value in {column!r})"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return format(value, spec)
