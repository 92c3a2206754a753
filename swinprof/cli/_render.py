"""Terminal output shared by the subcommands: the only place that prints reports and tables.

Imported by every subcommand module while the parser is built, so it imports nothing heavy itself (pandas and the
report renderers load when something is printed): `swinprof --help` and a refused option answer at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from swinprof.cli._options import FORMATS

if TYPE_CHECKING:
    import pandas as pd

    from swinprof.report.document import Report

__all__ = ["FORMATS", "console", "emit", "err_console", "image_progress", "print_frame", "show_report"]

PIPE_WIDTH = 120  # output width when stdout is not a terminal and COLUMNS is not set (CI logs, files)
WIDE = {"on": False}  # --wide: show every column even past the terminal's width


def _width() -> int | None:
    """`COLUMNS` when set, the terminal's own width on a tty, else PIPE_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else PIPE_WIDTH


console = Console(width=_width())
err_console = Console(stderr=True)


def print_frame(df: pd.DataFrame, title: str | None = None, fmt: str = "table") -> None:
    """Print `df` as a rich table, markdown, csv or json on stdout."""
    from swinprof.report.render import to_csv, to_json, to_markdown
    from swinprof.report.terminal import fitted_table

    if fmt == "table":
        for item in fitted_table(console, df, title or "", wide=WIDE["on"]):
            console.print(item, highlight=False)
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
    from swinprof.report.terminal import report_renderables
    from swinprof.report.writer import render

    if fmt == "table":
        for item in report_renderables(console, report, WIDE["on"]):
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
    """With `output`, write the report's files (and `extra` artifacts) there as one unit; then print `report` in
    `fmt`. Files first: a write that fails (full disk) prints nothing but its one error line."""
    from swinprof.report.writer import write_report

    written = write_report(report, output, stem, extra=extra) if output is not None else []
    show_report(report, fmt)
    if written and not quiet:
        err_console.print(f"wrote {len(written)} files into {output}: {written_names(written, Path(output))}",
                          highlight=False)  # fmt: skip
    return written


def progress_shown(quiet: bool) -> bool:
    """A live progress line: on a terminal only, never in CI (`CI` set) or with --quiet."""
    return not quiet and err_console.is_terminal and not os.environ.get("CI")


@contextlib.contextmanager
def image_progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient `label  done/total images  img/s  ETA` line on stderr while the block runs (see
    `progress_shown`); yields `update(done, total)`. Refreshed only on updates: no thread beside timed work."""
    if not progress_shown(quiet):
        yield lambda _done, _total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err_console, transient=True,
                   auto_refresh=False)  # fmt: skip
    with bar:
        task = bar.add_task(label, total=None, rate="")

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.1f} img/s" if speed else "", refresh=True)

        yield update


def written_names(written: list[Path], output: Path) -> str:
    """The published names, a folder of files as one `name/ (N files)`."""
    counts = Counter(p.relative_to(output).parts[0] + ("/" if len(p.relative_to(output).parts) > 1 else "")
                     for p in written)  # fmt: skip
    return ", ".join(name if not name.endswith("/") else f"{name} ({n} files)" for name, n in counts.items())
