"""`swinprof` entry point.

Every module in `swinprof.cli` that defines `add_parser(subparsers)` and `run(args) -> int` is a subcommand,
so adding one is one new file.

Exit codes (the promise README states): 0 ok, 1 a regression or a selfcheck failure, 2 bad input, 130
interrupted. Bad input is one line on stderr naming what to do, never a traceback, and nothing half-written: a
refused command line, a library error (`SwinprofError`), a write that failed (full disk, no permission) or a
request this machine cannot hold in memory. The console script enters through `swinprof.cli._entry`, which
also turns Ctrl-C during start-up (the imports below) into one line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import swinprof.cli as cli_pkg
from swinprof import __version__
from swinprof.cli import _render
from swinprof.cli._quiet import captured_third_party, summary
from swinprof.errors import SwinprofError, UsageError, is_out_of_memory

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _subcommand_modules():
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"{cli_pkg.__name__}.{info.name}")
        if hasattr(module, "add_parser") and hasattr(module, "run"):
            yield module


def _add_common(parser: argparse.ArgumentParser, default) -> None:
    """-v and --wide, accepted before or after the subcommand (SUPPRESS: a subcommand never resets them)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also show other packages' warnings (torch, torchao, onnxruntime), summarised",
    )
    parser.add_argument("--wide", action="store_true", default=default,
                        help="print every table column even past the terminal width")  # fmt: skip


def _leaf_parsers(parser: argparse.ArgumentParser):
    """`parser` itself, or its nested subcommands' parsers (e.g. `history add` / `history show`)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
        return
    for child in subs[0].choices.values():
        yield from _leaf_parsers(child)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused command line raises UsageError (one line, exit 2) instead of printing the usage
    block and exiting; subcommand parsers inherit the class."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="swinprof",
        description="Profile, compress and benchmark Swin Transformers (v1 and v2). Bad input: one line on "
        "stderr and exit code 2. Example: swinprof profile swin_s --res 224",
    )
    parser.add_argument("--version", action="version", version=f"swinprof {__version__}")
    _add_common(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _subcommand_modules():
        sp = module.add_parser(sub)
        sp.set_defaults(_run=module.run)
        for leaf in _leaf_parsers(sp):
            _add_common(leaf, argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 regression/failure, 2 bad input, 130 interrupted)."""
    args, started = None, None
    try:
        # Building the parser imports every subcommand module but no library behind them (torch, pandas): --help
        # and a refused option answer at once. The handlers those libraries install when a command imports them
        # are filtered by the capture below.
        parser = build_parser()
    except KeyboardInterrupt:
        return _fail("interrupted; no partial report was written", EXIT_INTERRUPTED)
    with captured_third_party() as noise:
        try:
            args = parser.parse_args(argv)
            _render.WIDE["on"] = args.wide
            started = time.time()
            code = int(args._run(args) or 0)
        except KeyboardInterrupt:
            code = _fail(_interrupted(started), EXIT_INTERRUPTED)
        except SwinprofError as exc:
            code = _fail(f"error: {exc}")
        except (MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):  # any other RuntimeError is a bug: its traceback is what to report
                raise
            code = _fail("error: ran out of memory: use a smaller --batch or --res, or free memory first")
        except OSError as exc:  # a read or write the library did not wrap (full disk, permissions): still one line
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            code = _fail(f"error: {exc.strerror or exc}{where}")
    if args is not None and args.verbose and noise:
        _render.err_console.print(f"{sum(noise.values())} warnings from other packages:", style="dim")
        for line in summary(noise):
            _render.err_console.print(f"  {line}", style="dim", highlight=False)
    return code


def _interrupted(started: float | None) -> str:
    """The Ctrl-C line. An interrupted compile can leave a cut binary in torch inductor's cache that breaks every
    later identical compile: remove what this command's builds left, and say so."""
    from swinprof.optimize.inductor_cache import repair_after_interrupt

    try:
        repair = repair_after_interrupt(started) if started is not None else None
    except (OSError, KeyboardInterrupt):  # a second Ctrl-C or an unreadable cache: just leave
        repair = None
    return "interrupted; no partial report was written" + (f"; {repair.message()}" if repair else "")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print `swinprof: MESSAGE` as one line on stderr; returns `code`."""
    print(f"swinprof: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
