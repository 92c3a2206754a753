"""Tables fit the terminal and never cut a number: narrow consoles keep essential columns, or go vertical."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from swinprof.report.terminal import MORE_COLUMNS_HINT, fitted_table

ROOT = Path(__file__).resolve().parents[2]
FRAME = pd.DataFrame(
    {"recipe": ["fp32-eager", "compile-inductor"], "median ms": [215.123, 171.5], "params": [49_606_258, 49_606_258],
     "speedup": [1.0, 1.254], "note": ["baseline", "one graph, 0 recompiles"]}
)  # fmt: skip


def render(width: int, **kwargs) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for item in fitted_table(console, FRAME, "t", **kwargs):
        console.print(item)
    return out.getvalue().splitlines()


def assert_fits(lines: list[str], width: int) -> None:
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert not any("…" in line for line in lines)


@pytest.mark.parametrize("width", [200, 60, 40, 24])
def test_every_width_fits_and_keeps_whole_numbers(width):
    lines = render(width)
    assert_fits(lines, width)
    text = "\n".join(lines)
    assert "fp32-eager" in text and text.count("49,606") == text.count("49,606,258")  # whole or absent, never cut
    if width < 60:
        narrowed = "more columns" in text and MORE_COLUMNS_HINT.split()[-1] in text  # the hint may wrap
        assert narrowed or "recipe: fp32-eager" in text  # narrowed, or one row at a time


def test_essential_columns_are_kept_and_wide_shows_all():
    lines = render(50, essential=("recipe", "speedup"))
    assert_fits(lines, 50)
    header = next(line for line in lines if "recipe" in line)
    assert "speedup" in header and "params" not in header
    assert any("params" in line for line in render(50, wide=True))


@pytest.mark.parametrize(
    "argv",
    [["models"], ["profile", "swin_t", "--res", "64", "--iters", "1", "--quiet"],
     ["export", "onnx", "swin_t", "--res", "64", "-o", "{tmp}/x.onnx"]],
    ids=["models", "profile", "export"],
)  # fmt: skip
def test_cli_output_at_80_columns(argv, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "swinprof", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_fits(proc.stdout.splitlines(), 80)
    noise = ("Failed to load", "register_constant", "UserWarning", "onnxscript", "torch.onnx", "W1")
    assert not [line for line in proc.stderr.splitlines() if any(n in line for n in noise)], proc.stderr[-2000:]
