"""What a selfcheck path gets: the device, the mode, a work folder, and time-limited ways to run things.

Every command runs as its user-facing entry point, `python -m swinprof ...`, in a fresh process: a crash, a
hang or a leak in one path cannot touch the others, and a path's time limit is enforced by killing that
process's whole group (inductor's compile workers included). Library measurements that have no command (the
full-size headline numbers) run in a fresh process through `swinprof.measure.isolated`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swinprof.measure.isolated import die_with_parent, run_isolated
from swinprof.selfcheck.reading import json_documents


class PathTimeout(Exception):
    """A path ran past its time limit (or the selfcheck's overall budget); its process was killed."""


class CommandFailed(Exception):
    """A command exited non-zero. `str()` is one line; `detail` keeps the end of its stderr for the json."""

    def __init__(self, argv: list[str], returncode: int, stderr: str):
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no output on stderr"
        super().__init__(f"`swinprof {' '.join(argv[:2])} ...` exited {returncode}: {last}"[:300])
        self.detail = "\n".join(lines[-60:])


@dataclass
class Completed:
    """A command that exited 0: its output and the JSON documents found in its stdout."""

    argv: list[str]
    stdout: str
    stderr: str
    docs: list[dict]


@dataclass
class Shared:
    """What every path of one run shares (paths may run in parallel threads): results of shared command runs,
    a lock per shared run, and the process groups alive now (killed on Ctrl-C)."""

    cache: dict[str, object] = field(default_factory=dict)
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, key: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def kill_all(self) -> None:
        """SIGKILL every command still running (their own session: Ctrl-C does not reach them)."""
        with self.guard:
            for pid in list(self.live):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


@dataclass
class Context:
    """One path's view of the run. `deadline` (monotonic seconds) is this path's own limit, `budget_end` the
    whole selfcheck's; the runner gives each path its own copy (`for_path`) over the same `shared` state."""

    device: str
    quick: bool
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    budget_end: float = float("inf")
    deadline: float = float("inf")
    shared: Shared = field(default_factory=Shared)

    def for_path(self, limit_s: float) -> Context:
        """A copy for one path, its deadline `limit_s` from now."""
        return dataclasses.replace(self, deadline=time.monotonic() + limit_s)

    def remaining(self) -> float:
        """Seconds the running path may still use (its limit or the overall budget, whichever ends first)."""
        left = min(self.deadline, self.budget_end) - time.monotonic()
        if left <= 1:
            raise PathTimeout("no time left in this path's limit or the selfcheck's budget")
        return left

    def path(self, name: str) -> Path:
        """A file or folder name inside the work folder (removed when the selfcheck ends)."""
        return self.workdir / name

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> Completed:
        """Run `python -m swinprof *argv` within the time left; CommandFailed on a non-zero exit."""
        argv_list = [str(a) for a in argv]
        limit = self.remaining()
        proc = subprocess.Popen(
            [sys.executable, "-m", "swinprof", *argv_list], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, **self.env, **(env or {})},
            start_new_session=True, preexec_fn=die_with_parent,  # own group: a timeout kills its workers too
        )  # fmt: skip
        with self.shared.guard:
            self.shared.live.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PathTimeout(f"`swinprof {' '.join(argv_list[:2])} ...` did not finish within {limit:.0f} s") from None
        except BaseException:  # Ctrl-C: take the command's process group down with us
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            with self.shared.guard:
                self.shared.live.discard(proc.pid)
        if proc.returncode != 0:
            raise CommandFailed(argv_list, proc.returncode, err)
        return Completed(argv_list, out, err, json_documents(out))

    def call(self, function: str, kwargs: dict) -> object:
        """`function` ("module:name") called with `kwargs` in a fresh process within the time left; returns its
        JSON value. Wrap it in `headline.guarded` so that any failure comes back with its traceback."""
        return run_isolated(function, kwargs, allocator_env=self.env or None, timeout=self.remaining()).value

    def cached(self, key: str, make: Callable[[], object]) -> object:
        """`make()` once per run for `key` (rows that read one shared command run; a path running in parallel
        waits for it); a failure is re-raised for every path that asks for it."""
        cache = self.shared.cache
        with self.shared.lock(key):
            if key not in cache:
                try:
                    cache[key] = make()
                except Exception as exc:
                    cache[key] = exc
        value = cache[key]
        if isinstance(value, Exception):
            raise value
        return value
