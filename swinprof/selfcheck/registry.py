"""The registry of selfcheck paths: one small function per user-facing code path, registered with its name.

A path is `fn(ctx) -> Result`; it drives a command through its user-facing entry point (a `python -m swinprof`
subprocess, see `context.Context`) and reads its key figure from the command's json output. Registering it
with the devices it runs on and its requirements (each a `(device) -> reason | None`) is all it takes for the
runner to run it, or to list it as skipped with that exact reason.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swinprof.selfcheck.context import Context

DEVICES = ("cpu", "cuda")
# Modules whose import registers the built-in paths (in this order: it is the order of the report's rows).
PATH_MODULES = ("swinprof.selfcheck.paths", "swinprof.selfcheck.headline", "swinprof.selfcheck.crossover")

Requirement = Callable[[str], "str | None"]


@dataclass
class Result:
    """What a path that ran reports: `figure` is its key figure as people read it (`error 7.7e-07`, `1.22x`),
    `values` the same numbers for machines (kept in the json)."""

    figure: str
    values: dict = field(default_factory=dict)


class Skip(Exception):
    """Raised by a path that finds at run time that it cannot run here; the message is the reason."""


@dataclass(frozen=True)
class Check:
    """One registered path. `limit_s` is its time limit per device (seconds); `full_only` paths (the full-size
    headline measurements) run only without `--quick`; paths with the same `shares` read one shared command
    run (`Context.cached`), which the runner uses to schedule them."""

    name: str
    fn: Callable[[Context], Result]
    devices: tuple[str, ...]
    requires: tuple[Requirement, ...]
    limit_s: dict[str, float]
    full_only: bool = False
    what: str = ""
    shares: str = ""

    def skip_reason(self, device: str, quick: bool) -> str | None:
        """Why this path does not run on `device` (in quick mode or not), or None when it runs."""
        if device not in self.devices:
            return "needs CUDA" if self.devices == ("cuda",) else f"runs on {' or '.join(self.devices)} only"
        if quick and self.full_only:
            return "full-size measurement: runs without --quick"
        for requirement in self.requires:
            reason = requirement(device)
            if reason:
                return reason
        return None


_CHECKS: dict[str, Check] = {}


def register(
    name: str,
    devices: tuple[str, ...] = DEVICES,
    requires: tuple[Requirement, ...] = (),
    limit_s: float | dict[str, float] = 300.0,
    full_only: bool = False,
    what: str | None = None,
    shares: str = "",
) -> Callable[[Callable[[Context], Result]], Callable[[Context], Result]]:
    """Decorator: run `fn` as the selfcheck path `name` on `devices` when every requirement is met.

    `what` (default: the first line of `fn`'s docstring) is what `swinprof selfcheck --list` shows; `shares`
    names the shared command run the path reads, if any.
    """
    unknown = set(devices) - set(DEVICES)
    if unknown:
        raise ValueError(f"path {name!r}: unknown devices {sorted(unknown)}; choose from {DEVICES}")
    limits = limit_s if isinstance(limit_s, dict) else dict.fromkeys(DEVICES, float(limit_s))

    def decorate(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
        if name in _CHECKS:
            raise ValueError(f"selfcheck path {name!r} registered twice")
        text = what if what is not None else (fn.__doc__ or "").strip().split("\n")[0]
        _CHECKS[name] = Check(name, fn, tuple(devices), tuple(requires), limits, full_only, text, shares)
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove a path (tests that inject one clean up with this)."""
    _CHECKS.pop(name, None)


def all_checks() -> list[Check]:
    """Every registered path, built-in ones first, in registration order."""
    for module in PATH_MODULES:
        importlib.import_module(module)
    return list(_CHECKS.values())


# ------------------------------------------------------------------------------------------- requirements


def needs_module(module: str, reason: str | None = None) -> Requirement:
    """Met when `module` can be imported (looked up without importing it)."""

    def check(_device: str) -> str | None:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else (reason or f"{module} not installed")

    return check


def needs_capability(major: int, minor: int) -> Requirement:
    """Met on a CUDA GPU of compute capability >= major.minor (fp8 needs 8.9: Ada, Hopper or newer)."""

    def check(device: str) -> str | None:
        if device != "cuda":
            return "needs CUDA"
        import torch

        have = torch.cuda.get_device_capability()
        if have >= (major, minor):
            return None
        return f"needs compute capability >= {major}.{minor} (this GPU: {have[0]}.{have[1]})"

    return check


def not_on(device: str, reason: str) -> Requirement:
    """Not run on `device`, for `reason` (a known limitation, or a path another one covers there)."""
    return lambda d: reason if d == device else None
