"""The options several subcommands share, defined once so each means the same everywhere.

`-o/--output`: where to write (nothing is written without it); `--format`: what to print on stdout; `--device`:
where to run; `--batch`: images per forward; `--seed`: the seed of random weights and inputs.
`tests/cli/test_options.py` builds every subcommand's parser and holds each shared option to these definitions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from swinprof.cli import _validate as v

FORMATS = ("table", "markdown", "csv", "json", "html")  # what --format prints (cli._render renders each)

OUTPUT_HELP = "write {what} (nothing is written without it)"
REQUIRED_OUTPUT_HELP = "write {what} (required: writing it is the command's job)"
FORMAT_HELP = "what to print on stdout (default table)"
DEVICE_HELP = "where to run: cpu, cuda or cuda:N (default {default})"
BATCH_HELP = "images per forward (default {default})"
SEED_HELP = "seed of the random weights and inputs, 0 to 2^63-1 (default 0)"


def add_output(p: argparse.ArgumentParser, what: str = "the report (md, csv, json, html) into this folder",
               kind: Callable[[str], str] = v.output_dir, metavar: str | None = None,
               required: bool = False) -> None:  # fmt: skip
    text = (REQUIRED_OUTPUT_HELP if required else OUTPUT_HELP).format(what=what)
    p.add_argument("-o", "--output", type=kind, default=None, metavar=metavar, required=required, help=text)


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help=FORMAT_HELP)


def add_device(p: argparse.ArgumentParser, default: str | None = "cpu", default_text: str | None = None) -> None:
    p.add_argument("--device", type=v.device_name, default=default,
                   help=DEVICE_HELP.format(default=default_text or default))  # fmt: skip


def add_batch(p: argparse.ArgumentParser, default: int, more: str = "", several: bool = False) -> None:
    """`several`: a comma-separated list is accepted too (`1,8`), one result each."""
    kind, value = (v.batch_sizes, (default,)) if several else (v.positive_int, default)
    p.add_argument("--batch", type=kind, default=value, help=BATCH_HELP.format(default=default) + more)


def add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=v.seed, default=0, help=SEED_HELP)
