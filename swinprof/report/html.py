"""One self-contained html file: inline css, tables, and inline SVG charts. No external assets."""

from __future__ import annotations

import html

import pandas as pd

from swinprof.report.document import Report
from swinprof.report.render import format_cell

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px;max-width:100%}
th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.txt{white-space:pre-wrap;overflow-wrap:anywhere}
p.note,ul.notes{color:#555;font-size:13px}ul.warn{color:#a40;font-weight:600}
table.kv td:first-child{font-weight:600;white-space:nowrap}
"""


def frame_html(df: pd.DataFrame, css_class: str = "") -> str:
    """A DataFrame as an html table with escaped, human-formatted cells."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="{"num" if num else "txt"}">{html.escape(format_cell(v))}</td>' for v, num in zip(row, numeric)
        )
        body.append(f"<tr>{cells}</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _items(items: dict) -> str:
    df = pd.DataFrame([{"": str(k), "value": "" if v is None else str(v)} for k, v in items.items()])
    return frame_html(df, "kv")


def _list(lines: list[str], css_class: str) -> str:
    return f'<ul class="{css_class}">' + "".join(f"<li>{html.escape(n)}</li>" for n in lines) + "</ul>"


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    if report.settings:
        parts.append(_items(report.settings))
    if report.warnings:
        parts.append(_list(report.warnings, "warn"))
    for chart in report.charts:
        parts.append(f'<figure class="chart" id="chart-{html.escape(chart.key)}">{chart.svg()}</figure>')
    for t in report.tables:
        parts.append(f'<h2 id="{html.escape(t.key)}">{html.escape(t.title)}</h2>')
        shown = t.shown()
        if shown is not None:
            parts.append(frame_html(shown))
        if t.notes:
            parts.append(_list(t.notes, "notes"))
    if report.notes:
        parts.append("<h2>Notes</h2>" + _list(report.notes, "notes"))
    if report.environment:
        parts.append('<h2 id="environment">Environment</h2>' + _items(report.environment))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
