"""The memory report: named sections (steps, attention, zero, budget) -> markdown and json.

A report file is keyed by model, resolution, batch and device. Writing a section keeps the other sections
already in that file (each carries its own environment and method line), so the single-process table and the
torchrun ZeRO-1 table of one setting end up in one report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from swinprof.report.files import atomic_write_text, ensure_writable_dir
from swinprof.report.render import to_markdown, to_records

SECTION_ORDER = ("steps", "attention", "zero", "budget")


def report_stem(variant: str, res: int, batch: int, device: str, window: int | None = None) -> str:
    win = f"_w{window}" if window else ""
    return f"memory_{variant}_{res}{win}_b{batch}_{device}"


def make_section(title: str, df: pd.DataFrame, method: str, environment: dict, notes: list[str]) -> dict:
    return {"title": title, "method": method, "environment": environment, "notes": notes, "rows": to_records(df)}


def render_markdown(header: str, sections: dict[str, dict]) -> str:
    """`# header`, then each section: title, environment line, method, table, notes."""
    out = [f"# {header}", ""]
    for key in sorted(sections, key=lambda k: SECTION_ORDER.index(k) if k in SECTION_ORDER else 99):
        sec = sections[key]
        env = sec["environment"]
        out += [f"## {sec['title']}", ""]
        out.append(
            f"Machine: {env.get('cpu')} ({env.get('cpu_count')} cores, {env.get('threads')} torch threads), "
            f"device {env.get('device')}{' ' + env['gpu'] if env.get('gpu') else ''}, torch {env.get('torch')}, "
            f"git {str(env.get('git_sha'))[:10]}{' (dirty)' if env.get('git_dirty') else ''}, {env.get('timestamp')}."
        )
        out += ["", f"Memory method: {sec['method']}.", ""]
        out.append(to_markdown(pd.DataFrame(sec["rows"])))
        out += [f"- {n}" for n in sec["notes"]]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_report(out_dir: str | Path, stem: str, header: str, sections: dict[str, dict]) -> tuple[Path, Path]:
    """Merge `sections` into `<stem>.json` (keeping other sections), re-render `<stem>.md`; both atomic."""
    out_dir = ensure_writable_dir(out_dir)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    merged: dict[str, dict] = {}
    if json_path.exists():
        try:
            merged = json.loads(json_path.read_text()).get("sections", {})
        except (OSError, ValueError):
            merged = {}  # an unreadable old report is replaced, not merged
    merged.update(sections)
    atomic_write_text(json_path, json.dumps({"header": header, "sections": merged}, indent=2) + "\n")
    atomic_write_text(md_path, render_markdown(header, merged))
    return md_path, json_path
