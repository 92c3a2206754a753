"""Render a `Report` to markdown / csv / json / html text, and write them into a directory atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from swinprof.report.document import Report
from swinprof.report.files import atomic_write_text, ensure_writable_dir
from swinprof.report.html import to_html
from swinprof.report.render import to_csv, to_markdown, to_records

FORMATS = ("markdown", "csv", "json", "html")
SUFFIX = {"markdown": "md", "json": "json", "html": "html"}


def report_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- {k}: {v}" for k, v in report.meta.items()]
    for s in report.sections:
        lines += ["", f"## {s.title}", ""]
        if s.frame is not None:
            lines.append(to_markdown(s.frame).rstrip("\n"))
        if s.note:
            lines += ["", s.note]
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> str:
    """`{title, meta, sections: [{key, title, note, columns, rows}]}`; NaN becomes null."""
    sections = [
        {
            "key": s.key,
            "title": s.title,
            "note": s.note,
            "columns": [str(c) for c in s.frame.columns] if s.frame is not None else [],
            "rows": to_records(s.frame) if s.frame is not None else [],
        }
        for s in report.sections
    ]
    return json.dumps({"title": report.title, "meta": report.meta, "sections": sections}, indent=2, default=str)


def report_csv(report: Report) -> dict[str, str]:
    """One csv text per section that has a table, keyed by section key."""
    return {s.key: to_csv(s.frame) for s in report.sections if s.frame is not None}


def render(report: Report, fmt: str) -> str:
    """One text for `fmt` (csv: the sections one after another, each headed by `# key`)."""
    if fmt == "markdown":
        return report_markdown(report)
    if fmt == "json":
        return report_json(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "csv":
        return "\n".join(f"# {k}\n{text}" for k, text in report_csv(report).items())
    raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def write_report(
    report: Report, out_dir: str | os.PathLike, stem: str, formats: tuple[str, ...] = FORMATS
) -> list[Path]:
    """Write `<stem>.md/.json/.html` and `<stem>_<section>.csv` into `out_dir`; returns the paths.

    Everything is rendered before the first write, and each file is written atomically.
    """
    texts: dict[str, str] = {}
    for fmt in formats:
        if fmt == "csv":
            texts.update({f"{stem}_{key}.csv": text for key, text in report_csv(report).items()})
        else:
            texts[f"{stem}.{SUFFIX[fmt]}"] = render(report, fmt)
    directory = ensure_writable_dir(out_dir)
    return [atomic_write_text(directory / name, text) for name, text in texts.items()]
