"""`swinprof` entry point.

Every module in `swinprof.cli` that defines `add_parser(subparsers)` and `run(args) -> int` is a subcommand,
so adding one is one new file. Library errors (`SwinprofError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import swinprof.cli as cli_pkg
from swinprof import __version__
from swinprof.cli import _render
from swinprof.cli._quiet import captured_third_party, summary
from swinprof.errors import SwinprofError

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
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="also show other packages' warnings (torch, torchao, onnxruntime), summarised")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    _render.WIDE["on"] = args.wide
    with captured_third_party() as noise:
        try:
            code = int(args._run(args) or 0)
        except SwinprofError as exc:
            print(f"swinprof: error: {exc}", file=sys.stderr)
            code = EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("swinprof: interrupted; no partial report was written", file=sys.stderr)
            code = EXIT_INTERRUPTED
    if args.verbose and noise:
        _render.err_console.print(f"{sum(noise.values())} warnings from other packages:", style="dim")
        for line in summary(noise):
            _render.err_console.print(f"  {line}", style="dim", highlight=False)
    return code


if __name__ == "__main__":
    sys.exit(main())
