"""One self-contained html file: inline css, tables, and an inline SVG chart. No external assets."""

from __future__ import annotations

import html

import pandas as pd

from swinprof.report.document import Report
from swinprof.report.render import format_cell

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.txt{white-space:pre}
p.note{color:#555;font-size:13px}dl{font-size:13px}
"""


def frame_html(df: pd.DataFrame) -> str:
    """A DataFrame as an html table with escaped, human-formatted cells."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="{"num" if num else "txt"}">{html.escape(format_cell(v))}</td>' for v, num in zip(row, numeric)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    if report.meta:
        items = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in report.meta.items())
        parts.append(f"<dl>{items}</dl>")
    if report.chart is not None:
        parts.append(f'<figure class="chart">{report.chart()}</figure>')
    for s in report.sections:
        parts.append(f'<h2 id="{html.escape(s.key)}">{html.escape(s.title)}</h2>')
        if s.frame is not None:
            parts.append(frame_html(s.frame))
        if s.note:
            parts.append(f'<p class="note">{html.escape(s.note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
