"""One self-contained html file: inline css, tables, and inline SVG charts. No external assets."""

from __future__ import annotations

import html

import pandas as pd

from swinprof.report.document import Report
from swinprof.report.render import format_cell

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;color:#222;max-width:1200px;
padding:0 1em}
.card{border:1px solid #ddd;border-radius:8px;padding:1em 1.2em;background:#fafafa;margin-bottom:1.5em}
.card h1{margin:.1em 0 .5em;font-size:1.5em}
.card dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0;font-size:13px}
.card dt{font-weight:600;color:#555}.card dd{margin:0;overflow-wrap:anywhere}
nav.toc{font-size:13px;margin-bottom:1.5em;display:flex;flex-wrap:wrap;gap:.3em 1.2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px;width:100%;table-layout:auto}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.txt{white-space:pre-wrap}
ul.notes{color:#555;font-size:13px}ul.warn{color:#a40;font-weight:600}
figure{margin:0 0 1.5em;max-width:100%}figure svg{max-width:100%;height:auto}
table.kv{width:auto}table.kv td:first-child{font-weight:600}
"""

# Environment entries shown in the header card; the full record is at the end of the page.
_CARD_ENVIRONMENT = ("cpu", "gpu", "threads", "torch", "allocator", "git_sha")


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


def _card(report: Report) -> str:
    """The header card: title, what was asked (settings) and where it ran (the essentials of the environment)."""
    env = {k: report.environment[k] for k in _CARD_ENVIRONMENT if report.environment.get(k) is not None}
    items = {**report.settings, **env}
    dl = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(format_cell(v))}</dd>" for k, v in items.items())
    return f'<header class="card"><h1>{html.escape(report.title)}</h1><dl>{dl}</dl></header>'


def _toc(report: Report) -> str:
    links = [(f"chart-{c.key}", c.title) for c in report.charts] + [(t.key, t.title) for t in report.tables]
    if report.environment:
        links.append(("environment", "Environment"))
    items = "".join(f'<a href="#{html.escape(k)}">{html.escape(title)}</a>' for k, title in links)
    return f'<nav class="toc">{items}</nav>'


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        _card(report),
        _toc(report),
    ]
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
