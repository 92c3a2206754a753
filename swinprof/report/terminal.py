"""A `Report` as rich renderables for the terminal (the CLI prints them; the library never does).

Tables fit the terminal without ever cutting a number: a table wider than the terminal keeps its essential
columns (those its `Table.essential` names, else as many leading columns as fit) and says how to see the rest;
if even those do not fit, each row is shown as `column: value` lines. `wide=True` shows every column.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from swinprof.report.document import Report, Table
from swinprof.report.render import format_cell

MORE_COLUMNS_HINT = "use --wide or --format markdown to see them"


def rich_table(df: pd.DataFrame, title: str | None = None) -> RichTable:
    """A DataFrame as a rich table: numbers right-aligned and never wrapped or cut; text may fold."""
    table = RichTable(title=title, show_lines=False, title_justify="left")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold", no_wrap=numeric,
                         min_width=_widest(df[col]) if numeric else None)  # fmt: skip
    for row in df.itertuples(index=False):
        table.add_row(*(format_cell(v) for v in row))
    return table


def _widest(values: pd.Series) -> int:
    return max((len(format_cell(v)) for v in values), default=1)


def _natural_width(console: Console, renderable) -> int:
    """Width the renderable takes with unlimited room (rich clamps measurements to the console otherwise)."""
    return Measurement.get(console, console.options.update_width(10**6), renderable).maximum


def _folded_width(console: Console, renderable) -> int:
    """Width the renderable needs at the least: text columns folded, numbers whole (they never wrap)."""
    return Measurement.get(console, console.options.update_width(10**6), renderable).minimum


def _columns_that_fit(console: Console, df: pd.DataFrame, width: int, essential: tuple[str, ...]) -> list[str]:
    cols = [c for c in essential if c in df.columns]
    if cols:
        return cols
    cols = [df.columns[0]]
    for c in df.columns[1:]:
        if _natural_width(console, rich_table(df[[*cols, c]])) > width:
            break
        cols.append(c)
    return cols


def _vertical(df: pd.DataFrame, title: str) -> Group:
    """Each row as `column: value` lines: the narrowest rendering that cuts nothing."""
    lines: list[Text] = [Text(title, style="bold")]
    for i, row in enumerate(df.itertuples(index=False)):
        lines.append(Text(f"[{i + 1}]", style="dim"))
        lines += [Text(f"  {c}: {format_cell(v)}") for c, v in zip(df.columns, row)]
    return Group(*lines)


def fitted_table(console: Console, df: pd.DataFrame, title: str, essential: tuple[str, ...] = (),
                 wide: bool = False) -> Iterator[object]:  # fmt: skip
    """The table as wide as the console allows, with a note naming what was left out."""
    full = rich_table(df, title)
    width = console.width
    if wide or _natural_width(console, full) <= width:
        yield full
        return
    cols = _columns_that_fit(console, df, width, essential)
    narrow = rich_table(df[cols], title)
    # The essential columns may fold their text (a selfcheck result, a layer name); only when even folded
    # they do not fit does each row go vertical.
    if len(cols) < 2 or _folded_width(console, narrow) > width:
        yield _vertical(df, title)
        return
    yield narrow
    yield Text(f"({len(df.columns) - len(cols)} more columns: {MORE_COLUMNS_HINT})", style="dim")


def table_renderables(console: Console, t: Table, wide: bool = False) -> Iterator[object]:
    shown = t.shown()
    if shown is not None:
        yield from fitted_table(console, shown, t.title, t.essential, wide)
    else:
        yield Text(t.title, style="bold")
    for note in t.notes:
        yield Text(note, style="dim")


def report_renderables(console: Console, report: Report, wide: bool = False) -> Iterator[object]:
    """Title, tables with their notes, report notes, then our warnings (last, so they are seen)."""
    yield Text(report.title, style="bold")
    for t in report.tables:
        yield from table_renderables(console, t, wide)
    for note in report.notes:
        yield Text(note, style="dim")
    for w in report.warnings:
        yield Text(f"warning: {w}", style="bold yellow")
