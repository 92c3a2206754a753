"""A report as data: titled sections, each a table and/or a line of text, plus key/value metadata.

Renderers (markdown, html, csv, json) and the writer take this, so any subcommand can produce every format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Section:
    """One table (`frame`) with a stable `key` (file names, json keys) and an optional note under it."""

    key: str
    title: str
    frame: pd.DataFrame | None = None
    note: str | None = None


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    chart: Callable[[], str] | None = None  # returns an inline SVG for the html rendering (drawn only when needed)

    def add(self, key: str, title: str, frame: pd.DataFrame | None = None, note: str | None = None) -> Section:
        section = Section(key, title, frame, note)
        self.sections.append(section)
        return section

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)
