"""Render a `Report` to markdown / csv / json / html text, and write all its files as one unit.

`write_report` renders every file first, writes them into a temporary staging folder, and only then moves them
into the output folder (with Ctrl-C held off during the moves), so a report appears whole or not at all: an
error, a full disk or an interrupt leaves the output folder as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from swinprof.errors import DataPathError
from swinprof.files import check_output_dir, make_parents, remove_folders, signals_held
from swinprof.report.document import Report, Table
from swinprof.report.html import to_html
from swinprof.report.render import to_csv, to_markdown, to_records

FORMATS = ("markdown", "csv", "json", "html")
SUFFIX = {"markdown": "md", "json": "json", "html": "html"}


def _table_markdown(t: Table) -> list[str]:
    lines = ["", f"## {t.title}", ""]
    shown = t.shown()
    if shown is not None:
        lines.append(to_markdown(shown).rstrip("\n"))
    if t.notes:
        lines += [""] + [f"- {n}" for n in t.notes]
    return lines


def report_markdown(report: Report) -> str:
    """`# title`, settings, warnings, one `##` section per table (notes under it), notes, environment."""
    lines = [f"# {report.title}", ""]
    lines += [f"- {k}: {v}" for k, v in report.settings.items()]
    if report.warnings:
        lines += ["", "**Warnings**", ""] + [f"- {w}" for w in report.warnings]
    for t in report.tables:
        lines += _table_markdown(t)
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    if report.environment:
        lines += ["", "## Environment", ""]
        lines += [f"- {k}: {'' if v is None else v}" for k, v in report.environment.items()]
    return "\n".join(lines) + "\n"


def report_dict(report: Report) -> dict:
    """`{title, settings, environment, warnings, notes, tables: [{key, title, notes, columns, rows}]}`."""
    tables = [
        {
            "key": t.key,
            "title": t.title,
            "notes": t.notes,
            "columns": [str(c) for c in t.frame.columns] if t.frame is not None else [],
            "rows": to_records(t.frame) if t.frame is not None else [],
        }
        for t in report.tables
    ]
    return {
        "title": report.title,
        "settings": report.settings,
        "environment": report.environment,
        "warnings": report.warnings,
        "notes": report.notes,
        "tables": tables,
    }


def report_json(report: Report) -> str:
    """The report as JSON; NaN becomes null (strict JSON)."""
    return json.dumps(report_dict(report), indent=2, default=str, allow_nan=False)


def report_csv(report: Report) -> dict[str, str]:
    """One csv text per table that has a frame, keyed by table key (every column, hidden ones too)."""
    return {t.key: to_csv(t.frame) for t in report.tables if t.frame is not None}


def render(report: Report, fmt: str) -> str:
    """One text for `fmt` (csv: the tables one after another, each headed by `# key`)."""
    if fmt == "markdown":
        return report_markdown(report)
    if fmt == "json":
        return report_json(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "csv":
        return "\n".join(f"# {k}\n{text}" for k, text in report_csv(report).items())
    raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def report_files(report: Report, stem: str, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """File name -> content of every file of the report: `<stem>.md/.json/.html`, `<stem>_<table>.csv`."""
    files: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "csv":
            files.update({f"{stem}_{key}.csv": text.encode() for key, text in report_csv(report).items()})
        else:
            files[f"{stem}.{SUFFIX[fmt]}"] = render(report, fmt).encode()
    return files


def publish(files: dict[str, bytes | Path], out_dir: str | os.PathLike) -> list[Path]:
    """Write `files` (name -> bytes, or a path to copy) into `out_dir` as one unit; returns the final paths.

    Everything goes into a temporary staging folder first (beside `out_dir` when it is new, hidden inside it when
    it exists); only when all of it is on disk are the files moved into `out_dir` (created if missing). Any
    failure before that, an interrupt included, leaves `out_dir` and its parents as they were (folders made for
    it are removed again), and an OSError is one DataPathError. A name may hold folders (`train/3/0042.png`):
    its top folder is published whole, so it must not exist in `out_dir` yet (a data set never mixes with an
    older one).
    """
    out = Path(out_dir)
    check_output_dir(out)
    tops = list(dict.fromkeys(Path(name).parts[0] for name in files))
    for name in files:
        top, nested = Path(name).parts[0], len(Path(name).parts) > 1
        if (out / top).is_dir() if not nested else (out / top).exists():
            what = "a folder of that name is in the way" if not nested else "it exists already and would mix"
            raise DataPathError(f"cannot write {str(out / name)!r}: {what}")
    # A new folder is staged beside it and renamed into place; an existing one is staged into from inside (a
    # hidden folder), so publishing never needs write access to the parent of a folder that exists already.
    existed = out.is_dir()
    parent = out.parent if str(out.parent) else Path(".")
    created = [] if existed else make_parents(parent)
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out if existed else parent))
        _stage(files, staging)
        with signals_held():
            if not out.exists():
                staging.rename(out)
                return [out / name for name in files]
            for top in tops:
                os.replace(staging / top, out / top)
        return [out / name for name in files]
    except OSError as exc:
        raise DataPathError(f"could not write the report into {str(out)!r}: {exc.strerror or exc}") from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not out.exists():
            remove_folders(created)


def _stage(files: dict[str, bytes | Path], staging: Path) -> None:
    """Write every file into the staging folder (its folders made), with the permissions a published file or
    folder should have."""
    for name, content in files.items():
        target = staging / name
        if target.parent != staging:
            target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)
    mask = _umask()
    for folder, dirs, names in os.walk(staging):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o777 & ~mask)
        for n in names:
            os.chmod(os.path.join(folder, n), 0o666 & ~mask)
    os.chmod(staging, 0o777 & ~mask)  # mkdtemp makes 0700; a published folder reads like any other


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(
    report: Report,
    out_dir: str | os.PathLike,
    stem: str,
    formats: tuple[str, ...] = FORMATS,
    extra: dict[str, bytes | Path] | None = None,
) -> list[Path]:
    """Render and publish every file of `report` (plus `extra` artifacts) into `out_dir` as one unit."""
    files: dict[str, bytes | Path] = dict(report_files(report, stem, formats))
    files.update(extra or {})
    return publish(files, out_dir)
