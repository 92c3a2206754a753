"""Run the registered paths one after another and turn their outcomes into one Report.

Each path runs under its own time limit and inside the overall budget; whatever it raises becomes a `failed`
row (one line, with the full traceback and the command's stderr kept for the json), and the next path runs.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from swinprof.errors import SwinprofError
from swinprof.report.document import Report
from swinprof.selfcheck.context import CommandFailed, Context
from swinprof.selfcheck.registry import Check, Skip, all_checks

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
# Versions a "Verified on" table needs, read from package metadata (nothing is imported for this).
VERSIONED = ("torch", "torchao", "onnxruntime", "onnx", "triton", "timm", "transformers", "torch_tensorrt", "torchinfo")


@dataclass
class Outcome:
    """One row of the report."""

    name: str
    devices: str
    status: str
    result: str
    seconds: float = 0.0
    values: dict = field(default_factory=dict)
    traceback: str = ""


def select(checks: list[Check], only: list[str] | None) -> list[Check]:
    """`checks` restricted to the names (or name prefixes, e.g. `attention`) in `only`."""
    if not only:
        return checks
    picked = [c for c in checks if any(c.name == o or c.name.startswith(o) for o in only)]
    unknown = [o for o in only if not any(c.name == o or c.name.startswith(o) for c in checks)]
    if unknown:
        raise SwinprofError(f"no selfcheck path named {', '.join(map(repr, unknown))}; see `swinprof selfcheck --list`")
    return picked


def _failure(exc: BaseException) -> tuple[str, str]:
    """(one line, full text) of a failure; a failed command's stderr goes below the traceback."""
    text = str(exc).strip().splitlines() or [""]
    if isinstance(exc, CommandFailed) or (isinstance(exc, SwinprofError) and len(text) > 1):
        line = text[0]  # already "what failed: why"; a guarded child's error is that line + its own traceback
    else:
        line = f"{type(exc).__name__}: {text[0]}"
    full = "".join(traceback.format_exception(exc))
    if isinstance(exc, CommandFailed) and exc.detail:
        full += "\n--- the command's stderr (last lines) ---\n" + exc.detail
    return line[:300], full


def run_one(check: Check, ctx: Context) -> Outcome:
    """Run one path (or say why not) and never raise, except on Ctrl-C."""
    devices = ",".join(check.devices)
    reason = check.skip_reason(ctx.device, ctx.quick)
    if reason is not None:
        return Outcome(check.name, devices, SKIPPED, reason)
    if ctx.budget_end - time.monotonic() < 5:
        return Outcome(check.name, devices, SKIPPED, "not started: the selfcheck's time budget was spent")
    start = time.monotonic()
    ctx = ctx.for_path(check.limit_s[ctx.device])
    try:
        result = check.fn(ctx)
    except Skip as exc:
        return Outcome(check.name, devices, SKIPPED, str(exc), time.monotonic() - start)
    except Exception as exc:  # any failure is this path's row, never the end of the run
        line, full = _failure(exc)
        return Outcome(check.name, devices, FAILED, line, time.monotonic() - start, traceback=full)
    return Outcome(check.name, devices, OK, result.figure, time.monotonic() - start, dict(result.values))


def execution_order(checks: list[Check], quick: bool, device: str = "cpu") -> list[int]:
    """Indexes of `checks` in the order to start them: full-size measurements first (what a short GPU session
    is for), then every path that starts a shared run, then the paths that only read one (so that parallel
    workers do not sit waiting on each other's shared run). Within each group the longest time limit starts
    first: the cold inductor compiles (minutes on a small CPU) then overlap each other and the short paths
    fill the gaps, instead of one starting last and running alone. Rows keep registry order in the report."""
    seen: set[str] = set()

    def rank(i: int) -> int:
        check = checks[i]
        if check.full_only and not quick:
            return 0
        if check.shares and check.shares in seen:
            return 2
        seen.add(check.shares)
        return 1

    ranks = {i: rank(i) for i in range(len(checks))}
    return sorted(ranks, key=lambda i: (ranks[i], -checks[i].limit_s.get(device, 0.0), i))


def run_checks(
    device: str,
    quick: bool,
    only: list[str] | None = None,
    budget_s: float | None = None,
    env: dict[str, str] | None = None,
    jobs: int = 1,
    on_progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Every selected path on `device`, `jobs` at a time, in a temporary work folder; `on_progress` gets a line
    per finished path. Outcomes come back in registry order."""
    checks = select(all_checks(), only)
    report = on_progress or (lambda _m: None)
    outcomes: dict[int, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="swinprof-selfcheck-") as work:
        budget_end = time.monotonic() + budget_s if budget_s else float("inf")
        ctx = Context(device, quick, Path(work), dict(env or {}), budget_end)
        order = execution_order(checks, quick, device)
        # The full-size measurements run alone, one after another (their timings are the point); then the rest,
        # `jobs` at a time.
        alone = [i for i in order if checks[i].full_only and not quick]
        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="selfcheck")

        def done(i: int, o: Outcome) -> None:
            outcomes[i] = o
            report(f"[{len(outcomes)}/{len(checks)}] {o.status:7s} {o.name} ({o.seconds:.0f} s): {o.result}")

        try:
            for i in alone:
                done(i, run_one(checks[i], ctx))
            futures = {pool.submit(run_one, checks[i], ctx): i for i in order if i not in alone}
            for future in as_completed(futures):
                done(futures[future], future.result())
        except BaseException:  # Ctrl-C: no command outlives the selfcheck
            pool.shutdown(wait=False, cancel_futures=True)
            ctx.shared.kill_all()
            raise
        pool.shutdown()
    return [outcomes[i] for i in range(len(checks))]


def versions() -> dict[str, str]:
    """Installed versions of the packages the paths depend on ("-" when not installed): VERSIONED, then those
    every registered runtime and method declares (`swinprof.optimize.methods.registered_packages`)."""
    from swinprof.optimize.methods import registered_packages

    out = {}
    names = dict.fromkeys([*VERSIONED, *(p.replace("-", "_") for p in registered_packages() if p != "swinprof")])
    for name in names:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def outcome_frame(outcomes: list[Outcome]) -> pd.DataFrame:
    """One row per path: path, devices, status, result, seconds (+ values and traceback for the json)."""
    columns = ["path", "devices", "status", "result", "seconds", "values", "traceback"]
    rows = [[o.name, o.devices, o.status, o.result, round(o.seconds, 1), o.values, o.traceback] for o in outcomes]
    return pd.DataFrame(rows, columns=columns)


def build_report(outcomes: list[Outcome], settings: dict, environment: dict) -> Report:
    """The selfcheck Report: one row per path (values and traceback kept in the json only)."""
    counts = {s: sum(o.status == s for o in outcomes) for s in (OK, SKIPPED, FAILED)}
    mode = "quick (small sizes)" if settings.get("quick") else "full (small sizes + full-size headline numbers)"
    title = f"swinprof selfcheck: {settings.get('device')}, {mode}"
    report = Report(title, environment=environment, settings={**settings, **counts, "versions": versions()})
    notes = [
        "ok: the path ran and its key figure is shown; skipped: the exact reason it cannot run here; failed: the "
        "first line of the error (the whole traceback and the command's stderr are in the json, column traceback)",
        "each path runs its command as `python -m swinprof ...` in a fresh process under the path's time limit; "
        "rows that read one shared run (attention rows of one dtype, the memory rows, bench and regress) count "
        "its time in the row that ran it",
        "errors are max abs differences vs attn_impl='reference' (logits; input gradient with backward)",
        f"{settings.get('jobs', 1)} path(s) at a time: with more than one, latencies and speedups of the small-size "
        "paths are correctness by-products, not benchmarks; the full-size headline paths run first, alone, one "
        "after another",
    ]
    report.add("paths", "Paths", outcome_frame(outcomes), notes, hidden=("values", "traceback"),
               essential=("path", "status", "result"))  # fmt: skip
    report.warnings += [f"{o.name} failed: {o.result}" for o in outcomes if o.status == FAILED]
    return report
