"""Every subcommand explains itself: a description with an example, and help text on every option."""

from __future__ import annotations

import argparse

import pytest

from swinprof.cli.main import _leaf_parsers, build_parser


def _subcommands(parser: argparse.ArgumentParser):
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for child in subs.choices.values():
        yield from _leaf_parsers(child)


def test_every_subcommand_has_a_description_with_an_example_and_every_option_has_help():
    problems = []
    for leaf in _subcommands(build_parser()):
        text = leaf.description or ""
        if "Example" not in text:
            problems.append(f"{leaf.prog}: description without an example")
        for action in leaf._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{leaf.prog}: {'/'.join(action.option_strings) or action.dest} has no help")
    assert problems == []


def test_every_command_group_has_a_description_with_an_example():
    """`swinprof history --help` (a group of actions) describes itself too, not only its leaves."""
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    groups = [p for p in subs.choices.values() if any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]
    assert groups, "no command with actions left to check"
    assert [p.prog for p in groups if "Example" not in (p.description or "")] == []


def test_every_action_list_has_a_help_line():
    """`swinprof history --help` listed `ACTION` with nothing beside it: the group's own argument explains itself."""
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    groups = subs.choices.values()
    lists = [(p.prog, a) for p in groups for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    assert lists, "no command with actions left to check"
    assert [prog for prog, action in lists if not action.help] == []


def test_one_way_to_name_the_model_per_command():
    for leaf in _subcommands(build_parser()):
        dests = [a.dest for a in leaf._actions]
        assert not ({"model", "variant"} <= set(dests)), f"{leaf.prog} takes the model twice"


def _names() -> list[str]:
    """Every subcommand `cli/main.py` found (one module each), as typed on the command line."""
    return [leaf.prog.removeprefix("swinprof ") for leaf in _subcommands(build_parser())]


@pytest.mark.parametrize("command", _names())
def test_every_subcommand_answers_help_with_its_usage_and_description(command, capsys):
    from swinprof.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    out = capsys.readouterr().out
    leaf = next(leaf for leaf in _subcommands(build_parser()) if leaf.prog == f"swinprof {command}")
    assert exit_info.value.code == 0 and out.startswith(f"usage: swinprof {command}")
    assert leaf.description.split(".")[0].split()[0] in out  # the description is printed, not only the usage


HEAVY = ("torch", "pandas", "onnx", "onnxruntime", "openvino", "torchao", "scipy")


def test_the_parser_imports_no_heavy_library_so_help_and_refusals_answer_at_once():
    """`swinprof --help` and a refused option build every subcommand's parser: none of them may import torch or
    the runtimes (that cost ~2 s per invocation before the parser moved its library imports into `run`)."""
    import subprocess
    import sys

    probe = ("import sys; from swinprof.cli.main import build_parser; build_parser(); "
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    refused = subprocess.run([sys.executable, "-m", "swinprof", "run", "fp32-eager", "--iters", "0"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "--iters" in refused.stderr
