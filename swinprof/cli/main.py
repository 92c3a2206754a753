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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swinprof", description="Profile, compress and benchmark Swin Transformers (v1 and v2)."
    )
    parser.add_argument("--version", action="version", version=f"swinprof {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _subcommand_modules():
        sp = module.add_parser(sub)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SwinprofError as exc:
        print(f"swinprof: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("swinprof: interrupted; no partial report was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
