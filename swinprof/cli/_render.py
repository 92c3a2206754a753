"""Terminal output shared by the subcommands: the only place that prints reports and tables."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from rich.console import Console

from swinprof.report.document import Report
from swinprof.report.render import to_csv, to_json, to_markdown
from swinprof.report.terminal import report_renderables, rich_table
from swinprof.report.writer import render, write_report

FORMATS = ("table", "markdown", "csv", "json", "html")

# Outside a terminal (CI logs, pipes) rich would fold tables to 80 columns; give them room instead.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


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


def show_report(report: Report, fmt: str = "table") -> None:
    """Print the whole report on stdout in `fmt` (table: rich tables, notes dimmed, warnings last)."""
    if fmt == "table":
        for item in report_renderables(report):
            console.print(item, highlight=False)
        return
    print(render(report, fmt), end="")


def emit(
    report: Report,
    fmt: str = "table",
    output: str | Path | None = None,
    stem: str = "report",
    extra: dict[str, bytes | Path] | None = None,
    quiet: bool = False,
) -> list[Path]:
    """Print `report` in `fmt`; with `output`, write its files (and `extra` artifacts) there as one unit."""
    show_report(report, fmt)
    written = write_report(report, output, stem, extra=extra) if output is not None else []
    if written and not quiet:
        err_console.print(f"wrote {len(written)} files into {output}: " + ", ".join(p.name for p in written),
                          highlight=False)  # fmt: skip
    return written
