"""One meaning per option across subcommands: every parser in the registry (`cli/main.py` builds one per module)
defines `-o/--output`, `--format`, `--device`, `--batch` and `--seed` the same way, and every command takes -o."""

from __future__ import annotations

import argparse

import pytest

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import FORMATS
from swinprof.cli.main import _leaf_parsers, build_parser

# Commands without -o, and why (each must keep a reason that holds).
NO_OUTPUT = {"swinprof history add": "it writes only the history store, named by --store"}
# `selfcheck --device` names the kind of device whose paths to check (`--list` shows CUDA paths on a CPU machine).
DEVICE_KIND_ONLY = {"swinprof selfcheck"}


def _leaves() -> list[argparse.ArgumentParser]:
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [leaf for child in subs.choices.values() for leaf in _leaf_parsers(child)]


LEAVES = _leaves()


def _option(leaf: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in leaf._actions if flag in a.option_strings), None)


@pytest.fixture(scope="module")
def leaves():
    assert len(LEAVES) >= 15, "the registry lost its subcommands"
    return LEAVES


def test_every_command_takes_dash_o_for_output(leaves):
    missing = [leaf.prog for leaf in leaves if _option(leaf, "--output") is None and leaf.prog not in NO_OUTPUT]
    assert missing == []
    for leaf in leaves:
        out = _option(leaf, "--output")
        if out is not None:
            assert out.option_strings == ["-o", "--output"], leaf.prog
            assert out.type in (v.output_dir, v.output_file), leaf.prog
            assert out.help.startswith("write "), leaf.prog
            assert out.required or "nothing is written without it" in out.help, leaf.prog
    assert set(NO_OUTPUT) <= {leaf.prog for leaf in leaves}, "an exemption names a command that is gone"


def test_format_means_what_to_print_everywhere(leaves):
    for leaf in leaves:
        fmt = _option(leaf, "--format")
        if fmt is not None:
            assert (tuple(fmt.choices), fmt.default, fmt.help) == (FORMATS, "table", o.FORMAT_HELP), leaf.prog


def test_device_batch_and_seed_mean_one_thing(leaves):
    seen = {"--device": 0, "--batch": 0, "--seed": 0}
    for leaf in leaves:
        device, batch, seed = (_option(leaf, f) for f in ("--device", "--batch", "--seed"))
        if device is not None and leaf.prog not in DEVICE_KIND_ONLY:
            seen["--device"] += 1
            assert device.type is v.device_name and device.help.startswith("where to run: cpu, cuda"), leaf.prog
        if batch is not None:
            seen["--batch"] += 1
            assert batch.type in (v.positive_int, v.batch_sizes), leaf.prog
            assert batch.help.startswith("images per forward"), leaf.prog
            assert (batch.type is v.batch_sizes) == ("several" in batch.help), leaf.prog
        if seed is not None:
            seen["--seed"] += 1
            assert (seed.type, seed.default, seed.help) == (v.non_negative_int, 0, o.SEED_HELP), leaf.prog
    assert all(n >= 2 for n in seen.values()), seen  # shared options, or the test holds nothing
