"""Terminal rendering shared by the subcommands (the only place that prints tables)."""

from __future__ import annotations

import sys

import pandas as pd
from rich.console import Console
from rich.table import Table

from swinprof.report.render import format_cell, to_csv, to_json, to_markdown

# Outside a terminal (CI logs, pipes) rich would fold tables to 80 columns; give them room instead.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def rich_table(df: pd.DataFrame, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(format_cell(v) for v in row))
    return table


def print_frame(df: pd.DataFrame, title: str | None = None, fmt: str = "table") -> None:
    """Print `df` as a rich table, markdown, csv or json on stdout."""
    if fmt == "table":
        console.print(rich_table(df, title))
    elif fmt == "markdown":
        print(to_markdown(df, title))
    elif fmt == "csv":
        print(to_csv(df), end="")
    elif fmt == "json":
        print(to_json(df, title))
    else:
        raise ValueError(f"unknown format {fmt!r}")
