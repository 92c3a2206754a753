"""`swinprof selfcheck` command line: bad input is one line and exit 2; --list and --help say what they do."""

from __future__ import annotations

import pytest
import torch

from swinprof.cli.main import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_on_a_cpu_machine_is_one_line_and_exit_2(capsys):
    assert main(["selfcheck", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CUDA" in err and "--device cpu" in err


@pytest.mark.parametrize(
    "argv, words",
    [(["--only", "no-such-path"], "no selfcheck path named"), (["--budget", "0"], "--budget: must be a finite number")],
)
def test_bad_options_exit_2(argv, words, capsys):
    assert main(["selfcheck", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_unknown_device_is_refused_by_the_parser(capsys):
    assert main(["selfcheck", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'tpu'" in err


def test_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["selfcheck", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 nothing failed" in out and "1 at least one path failed" in out and "2 bad input" in out


def test_list_shows_every_path(capsys):
    assert main(["selfcheck", "--list", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    for name in ("profile", "attention flex fp32 forward", "memory zero-1", "recipe fp8-dynamic", "regress tiny suite"):
        assert name in out
