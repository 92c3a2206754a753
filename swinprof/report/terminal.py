"""A `Report` as rich renderables for the terminal (the CLI prints them; the library never does)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from rich.table import Table as RichTable
from rich.text import Text

from swinprof.report.document import Report, Table
from swinprof.report.render import format_cell


def rich_table(df: pd.DataFrame, title: str | None = None) -> RichTable:
    """A DataFrame as a rich table: numbers right-aligned and never cut (they may wrap, text folds first)."""
    table = RichTable(title=title, show_lines=False, title_justify="left")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold",
                         no_wrap=numeric)  # fmt: skip
    for row in df.itertuples(index=False):
        table.add_row(*(format_cell(v) for v in row))
    return table


def table_renderables(t: Table) -> Iterator[object]:
    shown = t.shown()
    if shown is not None:
        yield rich_table(shown, t.title)
    else:
        yield Text(t.title, style="bold")
    for note in t.notes:
        yield Text(note, style="dim")


def report_renderables(report: Report) -> Iterator[object]:
    """Title, tables with their notes, report notes, then our warnings (last, so they are seen)."""
    yield Text(report.title, style="bold")
    for t in report.tables:
        yield from table_renderables(t)
    for note in report.notes:
        yield Text(note, style="dim")
    for w in report.warnings:
        yield Text(f"warning: {w}", style="bold yellow")
