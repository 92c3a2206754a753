"""One meaning per option across subcommands: every parser in the registry (`cli/main.py` builds one per module)
defines `-o/--output`, `--format`, `--device`, `--batch` and `--seed` the same way, and every command takes -o."""

from __future__ import annotations

import argparse

import pytest

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import FORMATS
from swinprof.cli.main import _leaf_parsers, build_parser
from swinprof.measure.seed import MAX_SEED

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
            assert (seed.type, seed.default, seed.help) == (v.seed, 0, o.SEED_HELP), leaf.prog
    assert all(n >= 2 for n in seen.values()), seen  # shared options, or the test holds nothing


@pytest.mark.parametrize("text", [str(2**64 - 1), str(2**64), str(MAX_SEED + 1), "-1", "1e3"])
def test_every_seed_option_refuses_what_torch_cannot_take(leaves, text):
    """2^64 - 1 used to pass the option and overflow torch's generator (after writing the digits data set)."""
    seeded = [leaf for leaf in leaves if _option(leaf, "--seed") is not None]
    assert len(seeded) >= 4
    for leaf in seeded:
        with pytest.raises(argparse.ArgumentTypeError, match=r"0 to 2\^63-1|must be an integer"):
            _option(leaf, "--seed").type(text)
    assert v.seed(str(MAX_SEED)) == MAX_SEED and v.seed("0") == 0


def test_the_largest_seed_and_its_offsets_reach_every_generator():
    """What the commands do with a seed: torch's global and private generators with the offsets they add, numpy's
    (the digits split), Python's (bench round order), and the seeded inputs."""
    import random

    import numpy as np
    import torch

    from swinprof.measure.inputs import seeded_batches, seeded_images
    from swinprof.studies.digits import split_indices

    for offset in (0, 1, 2, 7, 4096):
        torch.manual_seed(MAX_SEED + offset)
        torch.Generator().manual_seed(MAX_SEED + offset)
    random.Random(MAX_SEED)
    assert seeded_images(1, 32, MAX_SEED).shape == (1, 3, 32, 32)
    assert [b.shape[0] for b in seeded_batches(3, 2, (3, 32, 32), MAX_SEED + 1)] == [2, 1]
    split = split_indices(np.arange(40) % 10, MAX_SEED)
    assert sum(split.counts().values()) == 40
    with pytest.raises(ValueError, match="Overflow"):
        torch.Generator().manual_seed(2**64)  # what the bound keeps away
