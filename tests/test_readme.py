"""The README's examples run as written: every `swinprof` line of its ```bash blocks, in order, exit 0.

Lines run in-process (`swinprof.cli.main.main`) in a scratch folder that sees the repository's `recipes/` and
`reports/`, so what they write (`-o out/...`) stays out of the checkout. The tour's small commands run by default;
full-size and minute-long ones are marked slow (`python -m pytest -m slow tests/test_readme.py`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from swinprof.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Default test run: the quick ones (listing commands and the tiny attention comparison, well under a minute together
# on 2 quiet cores); everything else, the profile of full swin_t included, is marked slow.
QUICK = {"models", "recipes", "selfcheck", "attention"}


def readme_commands(text: str) -> list[list[str]]:
    """argv of every `swinprof ...` line inside a ```bash block, comments dropped, in README order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["swinprof"]:
                commands.append(words[1:])
    return commands


def _cases() -> list:
    cases, pending = [], []
    for argv in readme_commands(README.read_text()):
        pending.append(argv)
        if argv[0] == "bench":  # its results file is regress's input: they run as one case
            continue
        marks = () if argv[0] in QUICK else (pytest.mark.slow,)
        cases.append(pytest.param(pending, id=" + ".join(a[0] for a in pending), marks=marks))
        pending = []
    assert not pending, "a bench line with no regress after it"
    return cases


def test_the_readme_shows_its_commands():
    commands = readme_commands(README.read_text())
    assert {a[0] for a in commands} >= {"profile", "attention", "run", "memory", "bench", "regress"}
    assert len(README.read_text().splitlines()) <= 250


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    for name in ("recipes", "reports"):
        (folder / name).symlink_to(ROOT / name)
    return folder


@pytest.mark.parametrize("commands", _cases())
def test_readme_command_runs_as_written(commands, scratch, monkeypatch, capsys):
    monkeypatch.chdir(scratch)
    for argv in commands:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, f"swinprof {shlex.join(argv)} exited {code}: {err[-2000:]}"
        assert out.strip() or "--quiet" in argv, f"swinprof {shlex.join(argv)} printed nothing"
