"""A `Report` as rich renderables for the terminal (the CLI prints them; the library never does).

Tables fit the terminal without ever cutting a number. A table names its headline columns (`Table.essential`:
what the command exists for, always shown; else its first column) and orders the rest by importance
(`Table.secondary`, most important first; unlisted columns are the least important). When the table is wider than
the terminal, secondary columns fold away least important first, and a footer names them and how to see them.
Headline columns that still do not fit wrap their text; past that, each row is shown as `column: value` lines.

`wide=True` shows every column: as a table when it fits with its text wrapped at word boundaries (numbers whole,
headers' words whole), else as consecutive column groups that each fit (the row label repeated), else as
`column: value` records, so no column is ever squeezed to one character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from rich.console import Console, Group
from rich.table import Table as RichTable
from rich.text import Text

from swinprof.report.document import Report, Table
from swinprof.report.render import format_column

MORE_COLUMNS_HINT = "see them with --wide or --format markdown"


# A column's border and padding (`│ x `) plus the closing border: what a rich table adds to its cells' widths.
PER_COLUMN, CLOSING = 3, 1
# Text columns wrap at spaces; a long word folds at this width rather than widening the column past it.
LONGEST_UNBROKEN = 24


@dataclass(frozen=True)
class ColumnWidths:
    """One column's widths in characters: `natural` (one line per cell) and `least` (numbers whole, header and
    text wrapped at word boundaries, never under the shortest natural width of a few characters)."""

    natural: int
    least: int


def _cells(df: pd.DataFrame, col) -> list[str]:
    return format_column(df[col].tolist(), str(col))


def _words(texts: Sequence[str]) -> int:
    return max((len(w) for t in texts for w in t.split()), default=1)


def column_widths(df: pd.DataFrame, col) -> ColumnWidths:
    cells, header = _cells(df, col), str(col)
    natural = max([len(header), *(len(c) for c in cells)])
    if pd.api.types.is_numeric_dtype(df[col]):
        least = max([_words([header]), *(len(c) for c in cells)])
    else:
        least = max(min(_words([header, *cells]), LONGEST_UNBROKEN), min(natural, 8))
    return ColumnWidths(natural, min(least, natural))


def table_width(widths: Sequence[int]) -> int:
    return sum(widths) + PER_COLUMN * len(widths) + CLOSING


def natural_width(df: pd.DataFrame) -> int:
    return table_width([column_widths(df, c).natural for c in df.columns])


def least_width(df: pd.DataFrame) -> int:
    return table_width([column_widths(df, c).least for c in df.columns])


def _allot(df: pd.DataFrame, width: int) -> list[int]:
    """Column widths within `width`: every column at its least, the room left given to the columns that wrap,
    narrowest need first (so short text goes back on one line before a long one widens)."""
    sizes = [column_widths(df, c) for c in df.columns]
    widths = [s.least for s in sizes]
    room = width - table_width(widths)
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i].natural - sizes[i].least):
        grow = min(room, sizes[i].natural - widths[i])
        widths[i] += grow
        room -= grow
    return widths


def rich_table(df: pd.DataFrame, title: str | None = None, width: int | None = None) -> RichTable:
    """A DataFrame as a rich table: numbers right-aligned and never cut. With `width`, text and headers wrap at
    word boundaries to fit it (callers check `least_width(df) <= width` first)."""
    table = RichTable(title=title, show_lines=False, title_justify="left")
    widths = _allot(df, width) if width is not None and natural_width(df) > width else None
    for i, col in enumerate(df.columns):
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold",
                         width=widths[i] if widths else None, no_wrap=numeric and widths is None)  # fmt: skip
    for row in zip(*(_cells(df, c) for c in df.columns)):
        table.add_row(*row)
    return table


def headline_columns(df: pd.DataFrame, essential: Sequence[str]) -> list[str]:
    """The columns a table always shows: its declared headline, else its first (the row label)."""
    return [c for c in essential if c in df.columns] or [df.columns[0]]


def fold_order(df: pd.DataFrame, essential: Sequence[str], secondary: Sequence[str]) -> list[str]:
    """Non-headline columns in the order they fold: unlisted ones first (rightmost first), then the declared
    secondary columns least important first."""
    keep = set(headline_columns(df, essential))
    listed = [c for c in secondary if c in df.columns and c not in keep]
    unlisted = [c for c in reversed(df.columns) if c not in keep and c not in listed]
    return unlisted + listed[::-1]


def _vertical(df: pd.DataFrame, title: str) -> Group:
    """Each row as `column: value` lines: the narrowest rendering that cuts nothing."""
    lines: list[Text] = [Text(title, style="bold")]
    for i, row in enumerate(zip(*(_cells(df, c) for c in df.columns))):
        lines.append(Text(f"[{i + 1}]", style="dim"))
        lines += [Text(f"  {c}: {v}") for c, v in zip(df.columns, row)]
    return Group(*lines)


def _fits_wrapped(df: pd.DataFrame, width: int) -> bool:
    return least_width(df) <= width


def folded_columns(console: Console, df: pd.DataFrame, essential: Sequence[str] = (),
                   secondary: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """The columns a terminal of `console.width` leaves out, in the table's column order: fold in `fold_order`
    until the rest fits, then take back any folded column that still fits, most important first."""
    width, order = console.width, fold_order(df, essential, secondary)
    shown = list(df.columns)
    for col in order:
        if natural_width(df[shown]) <= width:
            break
        shown.remove(col)
    for col in reversed(order):
        if col not in shown:
            candidate = [c for c in df.columns if c in shown or c == col]
            if natural_width(df[candidate]) <= width:
                shown = candidate
    return [c for c in df.columns if c not in shown]


def _column_parts(df: pd.DataFrame, width: int) -> list[list[str]] | None:
    """Every column in order, packed into tables that each fit `width` and repeat the row label (the first
    column): unwrapped when every column fits beside the label, else wrapped; None when even wrapped the label
    and one more column do not fit."""
    label = df.columns[0]
    for measure in (natural_width, least_width):
        if all(measure(df[[label, col]]) <= width for col in df.columns[1:]):
            parts = [[label]]
            for col in df.columns[1:]:
                if measure(df[[*parts[-1], col]]) <= width:
                    parts[-1].append(col)
                else:
                    parts.append([label, col])
            return parts
    return None


def _wide(console: Console, df: pd.DataFrame, title: str) -> Iterator[object]:
    """Every column, readable: one table with wrapped text, else several tables of consecutive columns (the row
    label repeated), else `column: value` records."""
    width = console.width
    if _fits_wrapped(df, width):
        yield rich_table(df, title, width)
        return
    parts = _column_parts(df, width) if len(df.columns) > 1 else None
    if parts is None:
        yield _vertical(df, title)
        return
    last = 0
    for i, cols in enumerate(parts, start=1):
        first, last = (1, len(cols)) if i == 1 else (last + 1, last + len(cols) - 1)
        heading = f"{title} (part {i} of {len(parts)}: columns {first}-{last} of {len(df.columns)})"
        yield rich_table(df[cols], heading, width)


def fitted_table(console: Console, df: pd.DataFrame, title: str, essential: Sequence[str] = (), wide: bool = False,
                 secondary: Sequence[str] = ()) -> Iterator[object]:  # fmt: skip
    """The table as the console's width allows (see the module docstring), with a footer naming what folded."""
    width = console.width
    if natural_width(df) <= width:
        yield rich_table(df, title)
        return
    if wide:
        yield from _wide(console, df, title)
        return
    folded = folded_columns(console, df, essential, secondary)
    shown = df[[c for c in df.columns if c not in folded]]
    yield rich_table(shown, title, width) if _fits_wrapped(shown, width) else _vertical(shown, title)
    if folded:
        yield Text(f"(folded to fit {width} columns: {', '.join(map(str, folded))}; {MORE_COLUMNS_HINT})",
                   style="dim")  # fmt: skip


def _words_of(text: str) -> set[str]:
    return set(re.findall(r"[\w@%/]+", text.lower()))


def note_columns(note: str, columns: Sequence[str]) -> list[str]:
    """The columns a note explains: those whose name holds every word of the note's label (`block ms: ...`
    explains `s1 regular block ms`, `model ms: ...` explains `model ms (median)`); none without a label."""
    label = note.split(":", 1)[0] if ":" in note else ""
    words = _words_of(label)
    return [c for c in columns if words and words <= _words_of(str(c))]


def shown_notes(notes: Sequence[str], columns: Sequence[str], folded: Sequence[str]) -> list[str]:
    """The notes under a table: one that explains only folded columns says so."""
    out = []
    for note in notes:
        about = note_columns(note, columns)
        out.append(f"(folded columns) {note}" if about and set(about) <= set(folded) else note)
    return out


def table_renderables(console: Console, t: Table, wide: bool = False) -> Iterator[object]:
    shown = t.shown()
    folded: list[str] = []
    if shown is not None:
        if not wide and natural_width(shown) > console.width:
            folded = folded_columns(console, shown, t.essential, t.secondary)
        yield from fitted_table(console, shown, t.title, t.essential, wide, t.secondary)
    else:
        yield Text(t.title, style="bold")
    columns = [] if shown is None else list(shown.columns)
    for note in shown_notes(t.notes, columns, folded):
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
