"""README's "Verified on" table, built from committed selfcheck reports (`selfcheck-*.json`).

Reports are looked for in `reports/` (CPU runs) and `reports/gpu/` (GPU runs copied back from a GPU machine).
One table lists the runs (device, hardware, when, versions, counts), one the status of every path in each run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from swinprof.errors import ResultsError
from swinprof.report.document import Report
from swinprof.selfcheck.reading import find_table

PATTERNS = ("selfcheck-*.json", "gpu/selfcheck-*.json")


def report_files(folder: str | Path) -> list[Path]:
    """The selfcheck json reports under `folder` (and its `gpu/`), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"{str(folder)!r} is not a folder of reports: point --reports at one (e.g. reports)")
    return sorted({p for pattern in PATTERNS for p in folder.glob(pattern)})


def _run_row(label: str, doc: dict, path: Path) -> dict:
    env, settings = doc.get("environment") or {}, doc.get("settings") or {}
    versions = settings.get("versions") or {}
    return {
        "run": label,
        "report": str(path),
        "hardware": env.get("gpu") or f"{env.get('cpu')} ({env.get('cpu_count')} cores)",
        "when": env.get("timestamp"),
        "torch": versions.get("torch") or env.get("torch"),
        "torchao": versions.get("torchao"),
        "onnxruntime": versions.get("onnxruntime"),
        "triton": versions.get("triton"),
        "git": str(env.get("git_sha") or "")[:10] + ("+dirty" if env.get("git_dirty") else ""),
        "ok / skipped / failed": f"{settings.get('ok')} / {settings.get('skipped')} / {settings.get('failed')}",
    }


def _cell(row: dict) -> str:
    """`ok`, `failed`, or `skipped (reason)` with the reason cut short."""
    status, reason = str(row.get("status")), str(row.get("result") or "")
    if status != "skipped":
        return status
    return f"skipped ({reason if len(reason) <= 48 else reason[:45].rstrip() + '...'})"


def summary_report(folder: str | Path) -> Report:
    """A Report with the runs table and the path x run status table."""
    files = report_files(folder)
    report = Report("Verified on", settings={"reports": str(folder), "files": len(files)})
    runs, status = [], {}
    for path in files:
        doc = json.loads(path.read_text())
        settings = doc.get("settings") or {}
        subset = "" if settings.get("only", "all") == "all" else ", --only"
        label = f"{settings.get('device')} {'quick' if settings.get('quick') else 'full'}{subset} ({path.stem})"
        runs.append(_run_row(label, doc, path))
        for row in find_table([doc], "paths").rows:
            status.setdefault(row.get("path"), {})[label] = _cell(row)
    if not runs:
        report.notes.append(f"no selfcheck reports under {folder} (looked for {', '.join(PATTERNS)})")
    if not any(str(r["report"]).startswith(str(Path(folder) / "gpu")) for r in runs):
        report.notes.append("no GPU run has been committed yet (no reports/gpu/selfcheck-*.json): every CUDA path "
                            "is unverified on real hardware")  # fmt: skip
    if runs:
        report.add("runs", "Selfcheck runs", pd.DataFrame(runs))
        paths = pd.DataFrame([{"path": p, **by_run} for p, by_run in status.items()])
        report.add("paths", "Status of every path per run", paths.fillna("-"))
    return report
