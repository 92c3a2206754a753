"""A `Report` as rich renderables for the terminal (the CLI prints them; the library never does).

Tables fit the terminal without ever cutting a number. A table names its headline columns (`Table.essential`:
what the command exists for, always shown; else its first column) and orders the rest by importance
(`Table.secondary`, most important first; unlisted columns are the least important). When the table is wider than
the terminal, secondary columns fold away least important first, and a footer names them and how to see them.
Folding measures each column at the width it reads well at (`fold_width`): numbers whole with their header on two
lines, headline text on a few lines, other text as narrow as its words allow, so a long name (a 180-character
TensorRT layer) wraps into the room the numbers leave instead of pushing them out. The room is then shared level by
level (`_allot`); a case or path name wraps after its `/` rather than inside a word. Only when even the narrowest
widths do not fit is each row shown as `column: value` lines. Cells, headers and titles are plain text, never
rich markup (`[quantize]` and `{ForeignNode[/...]}` print as written).

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
# Text columns wrap at spaces; a long word folds at this width rather than widening the column past it. The row
# label (the first column: a case, a recipe, an op) keeps longer names whole, so `swin_t/64/b1/fp32-eager` never
# breaks inside a word where the terminal has the room.
LONGEST_UNBROKEN = 24
LONGEST_LABEL = 40
# Where a table is squeezed, a text column still shows this many characters a line (long words fold inside them)
# before the table gives up and prints `column: value` records.
TEXT_FLOOR = 10
# A text column reads well at about this many lines for its longest cell, and never narrower than TEXT_COMFORT
# (one word a line otherwise): room it gets before any column widens past that.
COMFORT_LINES = 3
TEXT_COMFORT = 16
# A number column's header reads well on up to this many lines.
HEADER_LINES = 2


@dataclass(frozen=True)
class ColumnWidths:
    """One column's widths in characters, narrowest first:

    floor: the narrowest it is ever drawn: numbers and headers' words whole; text folds inside long words.
    plain: numbers whole, header and text wrapped at word boundaries (a word longer than LONGEST_UNBROKEN
      folds), never under the shortest natural width of a few characters.
    least: `plain`, with the row label's words whole up to LONGEST_LABEL.
    comfort: reads well: a number's header on at most HEADER_LINES lines; text on about COMFORT_LINES lines; the
      row label on one line up to LONGEST_LABEL.
    natural: one line per cell.
    yielding: what a text column nobody declared a headline claims when columns compete for the width: its words
      whole up to LONGEST_UNBROKEN, at least TEXT_COMFORT (a long name wraps into the room the numbers leave).
    """

    floor: int
    plain: int
    least: int
    comfort: int
    natural: int
    yielding: int


def _cells(df: pd.DataFrame, col) -> list[str]:
    return format_column(df[col].tolist(), str(col))


def _pieces(word: str) -> list[str]:
    """A word's unbreakable pieces: a path-like name (`tiny:swin_t/64/b2/fp32-eager`) may break after each `/`."""
    return re.findall(r"[^/]*/|[^/]+$", word) or [word]


def _words(texts: Sequence[str]) -> int:
    """The longest piece of text that never breaks when it wraps (see `_pieces`)."""
    return max((len(p) for t in texts for w in t.split() for p in _pieces(w)), default=1)


def _break_at_separators(cell: str, width: int) -> str:
    """`cell` with each word longer than `width` broken after its `/` (pieces packed greedily into lines), so
    a case or path name wraps between its parts rather than inside one (rich wraps only at spaces)."""
    words = []
    for word in cell.split(" "):
        if len(word) > width and "/" in word:
            lines = [""]
            for piece in _pieces(word):
                if lines[-1] and len(lines[-1]) + len(piece) > width:
                    lines.append("")
                lines[-1] += piece
            word = "\n".join(lines)
        words.append(word)
    return " ".join(words)


def column_widths(df: pd.DataFrame, col, label: bool = False) -> ColumnWidths:
    """`label`: the column is the table's row label (its first column)."""
    cells, header = _cells(df, col), str(col)
    natural = max([len(header), *(len(c) for c in cells)])
    if pd.api.types.is_numeric_dtype(df[col]):
        least = min(natural, max([_words([header]), *(len(c) for c in cells)]))
        comfort = max(least, min(natural, -(-len(header) // HEADER_LINES)))
        return ColumnWidths(least, least, least, comfort, natural, comfort)
    words = _words([header, *cells])
    plain = min(natural, max(min(words, LONGEST_UNBROKEN), min(natural, 8)))
    least = min(natural, max(min(words, LONGEST_LABEL), min(natural, 8))) if label else plain
    floor = min(plain, max(TEXT_FLOOR, min(_words([header]), LONGEST_UNBROKEN)))
    if label and natural <= LONGEST_LABEL:
        comfort = natural
    else:
        comfort = min(natural, max(least, -(-natural // COMFORT_LINES), TEXT_COMFORT))
    return ColumnWidths(floor, plain, least, comfort, natural, min(natural, max(plain, TEXT_COMFORT)))


def _all_widths(df: pd.DataFrame) -> list[ColumnWidths]:
    return [column_widths(df, c, label=i == 0) for i, c in enumerate(df.columns)]


def table_width(widths: Sequence[int]) -> int:
    return sum(widths) + PER_COLUMN * len(widths) + CLOSING


def natural_width(df: pd.DataFrame) -> int:
    return table_width([w.natural for w in _all_widths(df)])


def least_width(df: pd.DataFrame) -> int:
    return table_width([w.least for w in _all_widths(df)])


def floor_width(df: pd.DataFrame) -> int:
    return table_width([w.floor for w in _all_widths(df)])


def fold_width(df: pd.DataFrame, essential: Sequence[str] = ()) -> int:
    """The width folding decides by: numbers, the text columns a table declares its headline and a row label of
    up to LONGEST_LABEL at `comfort` (what the table exists for reads well: a `why` on a few lines, a config not
    one word a line, a recipe name or a layer-tree line whole); other text at `yielding`, so a long name never
    pushes a number out."""
    sizes = []
    for i, (col, w) in enumerate(zip(df.columns, _all_widths(df))):
        short_label = i == 0 and w.natural <= LONGEST_LABEL
        keep = pd.api.types.is_numeric_dtype(df[col]) or col in essential or short_label
        sizes.append(w.comfort if keep else w.yielding)
    return table_width(sizes)


def _allot(df: pd.DataFrame, width: int) -> list[int]:
    """Column widths within `width`: every column at its floor, then the room left raised level by level (plain,
    least, comfort, natural), narrowest need first at each level, so short text goes back on one line before a
    long one widens. Past comfort, text cells come before number headers: a wrapped cell costs lines in every
    row, a wrapped header once."""
    sizes = _all_widths(df)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    widths = [s.floor for s in sizes]
    room = width - table_width(widths)
    for level in ("plain", "least", "comfort", "natural"):
        targets = [getattr(s, level) for s in sizes]
        later = numeric if level == "natural" else [False] * len(sizes)
        order = sorted(range(len(sizes)), key=lambda i: (later[i], targets[i] - widths[i]))
        for i in order:
            grow = max(0, min(room, targets[i] - widths[i]))
            widths[i] += grow
            room -= grow
    return widths


def rich_table(df: pd.DataFrame, title: str | None = None, width: int | None = None) -> RichTable:
    """A DataFrame as a rich table: numbers right-aligned and never cut. With `width`, text and headers wrap at
    word boundaries to fit it (callers check `floor_width(df) <= width` first)."""
    # Titles, headers and cells are plain text (`Text`), never rich markup: "[quantize] method" stays as written.
    table = RichTable(title=Text(title) if title else None, show_lines=False, title_justify="left")
    widths = _allot(df, width) if width is not None and natural_width(df) > width else None
    for i, col in enumerate(df.columns):
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(Text(str(col)), justify="right" if numeric else "left", overflow="fold",
                         width=widths[i] if widths else None, no_wrap=numeric and widths is None)  # fmt: skip
    texts = [not pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    for row in zip(*(_cells(df, c) for c in df.columns)):
        if widths:
            row = [_break_at_separators(cell, w) if text else cell for cell, w, text in zip(row, widths, texts)]
        table.add_row(*(Text(cell) for cell in row))
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


def _fits_squeezed(df: pd.DataFrame, width: int) -> bool:
    return floor_width(df) <= width


def folded_columns(console: Console, df: pd.DataFrame, essential: Sequence[str] = (),
                   secondary: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """The columns a terminal of `console.width` leaves out, in the table's column order: fold in `fold_order`
    until the rest fits, then take back any folded column that still fits, most important first."""
    width, order = console.width, fold_order(df, essential, secondary)
    shown = list(df.columns)
    if natural_width(df) <= width:
        return []
    for col in order:
        if fold_width(df[shown], essential) <= width:
            break
        shown.remove(col)
    for col in reversed(order):
        if col not in shown:
            candidate = [c for c in df.columns if c in shown or c == col]
            if fold_width(df[candidate], essential) <= width:
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
    yield rich_table(shown, title, width) if _fits_squeezed(shown, width) else _vertical(shown, title)
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
