"""Tables fit the terminal and never cut a number: headline columns always shown, secondary ones fold least
important first (the footer names them), `--wide` shows every column readably at any width."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from swinprof.report.document import Report
from swinprof.report.render import format_column
from swinprof.report.terminal import MORE_COLUMNS_HINT, fitted_table, report_renderables, table_renderables

ROOT = Path(__file__).resolve().parents[2]
FRAME = pd.DataFrame(
    {"recipe": ["fp32-eager", "compile-inductor"], "median ms": [215.123, 171.5], "params": [49_606_258, 49_606_258],
     "speedup": [1.0, 1.254], "note": ["baseline", "one graph, 0 recompiles"]}
)  # fmt: skip
# An attention-like table: 11 columns, far wider than 80; the headline is the impl, model ms, speedup and peak.
WIDE_FRAME = pd.DataFrame({
    "impl": ["reference", "flex", "fused"], "status": ["ok", "ok", "failed: NotImplementedError in a kernel"],
    "max abs err (logits)": [0.0, 3.278e-7, 2.459e-7],
    **{f"s{i} regular block ms": [1.13 * i, 6.09, 0.9587] for i in range(1, 5)},
    "model ms (median)": [36.02, 161.57, 89.95], "model ms (p90)": [125.05, 171.03, 177.86],
    "speedup vs reference": [1.0, 0.2229, 0.4004], "tensor peak (MiB)": [2.5, 3.25, 12.75],
})  # fmt: skip
HEADLINE = ("impl", "model ms (median)", "speedup vs reference", "tensor peak (MiB)")
SECONDARY = ("status", "max abs err (logits)")


def render(width: int, frame: pd.DataFrame = FRAME, **kwargs) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for item in fitted_table(console, frame, "t", **kwargs):
        console.print(item)
    return out.getvalue().splitlines()


def assert_fits(lines: list[str], width: int) -> None:
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert not any("…" in line for line in lines)


def header_cells(lines: list[str]) -> list[list[str]]:
    """Each table's column headers, the words of wrapped header lines joined per column."""
    tables, current = [], None
    for line in lines:
        if line.startswith("┏"):
            current = None
        elif line.startswith("┃"):
            cells = [c.strip() for c in line.strip("┃").split("┃")]
            current = cells if current is None else [f"{a} {b}".strip() for a, b in zip(current, cells)]
        elif line.startswith("┡") and current is not None:
            tables.append(current)
    return tables


def column_widths(lines: list[str]) -> list[int]:
    return [len(seg) - 2 for line in lines if line.startswith("┏") for seg in line[1:-1].split("┳")]


@pytest.mark.parametrize("width", [200, 60, 40, 24])
def test_every_width_fits_and_keeps_whole_numbers(width):
    lines = render(width)
    assert_fits(lines, width)
    text = "\n".join(lines)
    assert "fp32-eager" in text and text.count("49,606") == text.count("49,606,258")  # whole or absent, never cut


@pytest.mark.parametrize("width", [80, 120])
def test_headline_columns_stay_and_the_footer_names_what_folded(width):
    lines = render(width, WIDE_FRAME, essential=HEADLINE, secondary=SECONDARY)
    assert_fits(lines, width)
    (shown,) = header_cells(lines)
    assert set(HEADLINE) <= set(shown)
    folded = [c for c in WIDE_FRAME.columns if c not in shown]
    assert folded, "the table is wider than the terminal: something folds"
    footer = " ".join(" ".join(lines[lines.index(next(x for x in lines if x.startswith("(folded"))) :]).split())
    assert all(c in footer for c in folded) and MORE_COLUMNS_HINT in footer
    # the unlisted per-block columns fold before the declared secondary ones
    if "status" not in shown:
        assert not any("block ms" in c for c in shown)


def test_folding_keeps_what_fits_by_importance():
    lines = render(120, WIDE_FRAME, essential=HEADLINE, secondary=SECONDARY)
    (shown,) = header_cells(lines)
    assert "status" in shown  # the most important secondary column fits at 120 and is kept
    assert "s4 regular block ms" not in shown


@pytest.mark.parametrize("width", [80, 120])
def test_wide_shows_every_column_readably(width):
    lines = render(width, WIDE_FRAME, essential=HEADLINE, wide=True)
    assert_fits(lines, width)
    shown = [c for table in header_cells(lines) for c in table]
    assert set(WIDE_FRAME.columns) <= set(shown)  # every header whole (its words re-joined after wrapping)
    assert min(column_widths(lines)) >= 4  # never a one-character column
    text = "\n".join(lines)
    for col in WIDE_FRAME.columns[2:]:
        assert all(cell in text for cell in format_column(WIDE_FRAME[col].tolist()))  # every number whole
    assert text.count("reference") >= 2  # the row labels repeat in every part, never disappear


def test_wide_goes_vertical_when_one_column_cannot_fit():
    lines = render(32, WIDE_FRAME, wide=True)  # the label and the status column need 35
    assert_fits(lines, 32)
    assert "  speedup vs reference: 0.223" in lines


# A real TensorRT 8 fused-layer name (180 characters, brackets included) beside the per-layer numbers.
FUSED = ("{ForeignNode[/layers.0/blocks.0/attn/qkv/MatMul_output_0_QuantizeLinear.../layers.0/blocks.1/attn/Softmax"
         " + /layers.0/blocks.1/attn/MatMul_1 + /layers.0/blocks.1/attn/Transpose_2]}")[:180]  # fmt: skip


def _trtexec_layers():
    from swinprof.track.trtexec import TrtexecRun, trtexec_report

    layers = [{"name": FUSED, "timeMs": 31.5, "averageMs": 0.63, "medianMs": 0.62, "percentage": 52.5},
              {"name": "/layers.0/blocks.0/mlp/fc1/MatMul", "timeMs": 21.0, "averageMs": 0.42, "medianMs": 0.41,
               "percentage": 35.0}]  # fmt: skip
    run = TrtexecRun([{"computeMs": 2.4, "latencyMs": 2.5}] * 10, 50, layers, {})
    return trtexec_report(run, "swin_t-int8-b1").table("layers")


@pytest.mark.parametrize("width", [80, 120])
def test_a_long_name_wraps_and_never_pushes_the_numbers_out(width):
    """import-trtexec kept only the layer-name column (and a name with `[...]` was read as rich markup)."""
    table = _trtexec_layers()
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for item in table_renderables(console, table):
        console.print(item)
    lines = out.getvalue().splitlines()
    assert_fits(lines, width)
    (shown,) = header_cells(lines)
    assert {"total ms (50 runs)", "average ms", "% of profiled time"} <= set(shown)
    names = "".join(line.split("│")[1].strip() for line in lines if line.startswith("│"))
    assert "".join(names.split()).startswith("".join(FUSED.split()))  # the whole name, wrapped, as text
    assert all(cell in "\n".join(lines) for cell in ("31.50", "0.630", "52.50"))


def test_cells_titles_and_headers_are_text_not_markup():
    frame = pd.DataFrame({"[quantize] method": ["[bold]int8[/bold]", "{Node[/a/b]}"], "ms": [1.5, 2.0]})
    text = "\n".join(render(80, frame))
    assert all(s in text for s in ("[quantize] method", "[bold]int8[/bold]", "{Node[/a/b]}"))


def test_numbers_in_a_column_share_one_format():
    assert format_column([117.54, 1695.9, 62.33]) == ["117.54", "1,695.90", "62.33"]
    assert format_column([0.2774, 19.58, 100.0]) == ["0.277", "19.580", "100.000"]
    assert format_column([0.0, 3.278e-7, None]) == ["0", "3.278e-07", ""]
    assert format_column(["a", 1.5]) == ["a", "1.50"]


def test_notes_about_folded_columns_say_so():
    report = Report("r")
    report.add("t", "t", WIDE_FRAME, ["block ms: one block", "model ms: whole model", "weights: random"],
               essential=HEADLINE)  # fmt: skip
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    for item in report_renderables(console, report):
        console.print(item)
    text = out.getvalue()
    assert "(folded columns) block ms: one block" in text
    assert "(folded columns) model ms" not in text and "(folded columns) weights" not in text


CHILD = """
import pandas as pd
from swinprof.cli import _render
from swinprof.report.document import Report
from tests.report.test_terminal import WIDE_FRAME, HEADLINE, SECONDARY
_render.WIDE["on"] = {wide}
report = Report("r")
report.add("t", "Per implementation", WIDE_FRAME, essential=HEADLINE, secondary=SECONDARY)
_render.show_report(report)
"""


def _in_pty(code: str, columns: int) -> str:
    """Run `code` with stdout on a pseudo-terminal of `columns` columns (COLUMNS unset): what a user sees."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode()).replace("\r", "")


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal test")
@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("wide", [False, True], ids=["folded", "wide"])
def test_in_a_pseudo_terminal(columns, wide):
    lines = _in_pty(CHILD.format(wide=wide), columns).splitlines()
    assert_fits(lines, columns)
    shown = {c for table in header_cells(lines) for c in table}
    assert set(HEADLINE) <= shown
    if wide:
        assert set(WIDE_FRAME.columns) <= shown and min(column_widths(lines)) >= 4
    else:
        assert any(line.startswith("(folded") for line in lines)


def test_piped_output_is_120_columns():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD.format(wide=False)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert_fits(lines, 120)
    assert max(len(line) for line in lines) > 80  # the pipe width, not a terminal's 80
    assert set(HEADLINE) <= {c for table in header_cells(lines) for c in table}


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


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal test")
@pytest.mark.parametrize("how", ["pty", "pipe"])
def test_a_tour_command_keeps_its_promised_columns_at_80_on_a_terminal_and_a_pipe(how):
    """What a user sees from `swinprof models` at 80 columns: a terminal 80 wide (COLUMNS unset) or a pipe with
    COLUMNS=80 (tests/cli/test_tour_at_80.py holds every tour command's report to the same promise)."""
    from tests.cli.test_tour_at_80 import PROMISES

    code = "import sys; from swinprof.cli.main import main; sys.exit(main(['models']))"
    if how == "pty":
        text = _in_pty(code, 80)
    else:
        env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout
    lines = text.splitlines()
    assert_fits(lines, 80)
    (shown,) = header_cells(lines)
    assert set(PROMISES["models"]["variants"]) <= set(shown)
