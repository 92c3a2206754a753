"""A report as data: `Report(title, environment, tables, notes, charts)`.

Every command builds one and hands it to `swinprof.report.writer` (markdown / csv / json / html files) and to
the terminal renderer; no command formats a table by hand. A `Table` keeps machine column names in its frame
(what json and csv carry, e.g. `tensor_peak_bytes`) and may hide some of them from the human renderings,
which show the labelled columns beside them (e.g. `tensor peak (MiB)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Table:
    """One table with a stable `key` (file names, json keys), a title and footer notes (meters, units, method).

    `hidden`: columns kept in json/csv but left out of terminal, markdown and html (raw bytes beside MiB, ...).
    `essential`: the headline columns, what the command exists for (speedup, ms, peak MiB, verdict): a narrow
    terminal always shows them (the first column when empty).
    `secondary`: the other columns by importance, most important first; a narrow terminal folds unlisted columns
    first, then these from the last.
    """

    key: str
    title: str
    frame: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    hidden: tuple[str, ...] = ()
    essential: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()

    def shown(self) -> pd.DataFrame | None:
        """The frame as people read it: hidden columns dropped."""
        if self.frame is None:
            return None
        return self.frame.drop(columns=[c for c in self.hidden if c in self.frame.columns])


@dataclass
class Chart:
    """A figure for the html report: `svg()` draws it on demand (matplotlib is imported only then)."""

    key: str
    title: str
    svg: Callable[[], str]


@dataclass
class Report:
    """What one command measured: the tables, what was asked (`settings`), where it ran (`environment`),
    report-level `notes`, our own `warnings` (shown prominently), and `charts` for html."""

    title: str
    environment: dict = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(
        self,
        key: str,
        title: str,
        frame: pd.DataFrame | None = None,
        notes: list[str] | str | None = None,
        hidden: tuple[str, ...] = (),
        essential: tuple[str, ...] = (),
        secondary: tuple[str, ...] = (),
    ) -> Table:
        """Append a table; `notes` may be one line or several."""
        if any(t.key == key for t in self.tables):
            raise ValueError(f"report {self.title!r} already has a table {key!r}")
        lines = [notes] if isinstance(notes, str) else list(notes or [])
        table = Table(key, title, frame, lines, hidden, essential, secondary)
        self.tables.append(table)
        return table

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)
