"""At 80 columns every README tour command shows the columns its README line names.

Each command's report is built small (tiny models, a few iterations; the tour commands themselves run in the slow
`tests/test_readme.py`), rendered as an 80-column terminal renders it, and its table headers read back. The
promises are the README's: the tour block's comments and the one-line descriptions under it.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pytest
import torch
from rich.console import Console

from swinprof.cli.main import main
from swinprof.report.document import Report
from swinprof.report.terminal import table_renderables
from tests.report.test_terminal import assert_fits, header_cells

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
WIDTH = 80

# Tour command -> {table key: the columns its README line names, as the table's headers spell them}.
PROMISES: dict[str, dict[str, tuple[str, ...]]] = {
    "models": {"variants": ("name", "params (M)", "GMACs", "top-1")},
    "recipes": {"presets": ("name", "method", "runtime"), "methods": ("method", "runtime", "extra")},
    "profile": {
        "model_info": ("params", "GMACs (1 img)", "acc@1", "acc@5"),
        "stages": ("stage", "median (ms)", "tensor peak (MiB)", "GFLOP/s"),
        "ops": ("op", "count", "self (ms)"),
        "roofline_stages": ("stage", "intensity", "ms", "roofline_pct", "bound"),
        "roofline_ops": ("op", "intensity", "ms", "roofline_pct", "bound"),
    },
    "attention": {
        "impls": ("impl", "max abs err (logits)", "model ms (median)", "speedup vs reference", "tensor peak (MiB)")
    },
    "run": {
        "comparison": ("recipe", "median ms", "speedup vs fp32", "tensor peak MiB"),
        "fidelity": ("recipe", "top-1 agree", "top-5 agree", "SQNR dB"),
    },
    "memory": {
        "steps": (
            "config",
            "tensor peak (MiB)",
            "process peak (MiB)",
            "tensor peak vs baseline",
            "process peak vs baseline",
        )
    },
    "bench": {},  # the tour runs it --quiet: it writes the results file regress reads and prints nothing
    "regress": {"cases": ("case", "ratio", "verdict", "why")},
    "selfcheck": {"paths": ("path", "devices")},
}


def tour_commands() -> list[str]:
    block = re.search(r"## A tour at small size.*?```bash\n(.*?)```", README, re.S).group(1)
    return [shlex.split(line, comments=True)[1] for line in block.splitlines() if line.startswith("swinprof ")]


def test_every_tour_command_has_its_promise_here():
    assert sorted(tour_commands()) == sorted(PROMISES)


def rendered(report: Report, key: str, width: int = WIDTH) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    for item in table_renderables(console, report.table(key)):
        console.print(item)
    return out.getvalue().splitlines()


def check(report: Report, command: str) -> None:
    for key, promised in PROMISES[command].items():
        lines = rendered(report, key)
        assert_fits(lines, WIDTH)
        tables = header_cells(lines)
        assert len(tables) == 1, f"{command} {key}: not one table at {WIDTH} columns ({len(lines)} lines)"
        missing = [c for c in promised if c not in tables[0]]
        assert missing == [], f"{command} {key}: {missing} not on screen at {WIDTH} columns"


def shown(argv: list[str], monkeypatch) -> Report:
    """The report a command prints, built by the command itself in this process."""
    from swinprof.cli import _render

    reports: list[Report] = []
    monkeypatch.setattr(_render, "show_report", lambda report, fmt="table": reports.append(report))
    assert main(argv) == 0
    (report,) = reports
    return report


def test_models(monkeypatch):
    report = shown(["models"], monkeypatch)
    check(report, "models")
    assert not report.tables[0].title.startswith(report.title)  # "Swin variants" printed once, not twice
    assert f"{len(report.tables[0].frame)} registered" in report.tables[0].title


def test_recipes(monkeypatch):
    report = shown(["recipes"], monkeypatch)
    check(report, "recipes")
    assert "Quantization methods ([quantize] method)" in rendered(report, "methods")[0]  # was "( method)"


def test_selfcheck_list(monkeypatch):
    check(shown(["selfcheck", "--list"], monkeypatch), "selfcheck")


def test_regress(tmp_path, monkeypatch):
    """Case names as long as the CI suite's, and a `why` that must stay on a few lines."""
    from tests.cli.hostile import results_doc

    base, new = results_doc(), results_doc()
    case = base["cases"][0]
    base["cases"] = [dict(case, id="tiny:swinv2_t_w8/64/b2/reference/fp32-eager"),
                     dict(case, id="tiny:swin_t/64/b2/reference/fp32-eager")]  # fmt: skip
    new["cases"] = [dict(c, samples_ms=[x * 1.3 for x in c["samples_ms"]], cpu_ms=[x * 1.3 for x in c["cpu_ms"]])
                    for c in base["cases"]]  # fmt: skip
    for name, doc in (("base.json", base), ("new.json", new)):
        (tmp_path / name).write_text(json.dumps(doc))
    report = shown(["regress", str(tmp_path / "base.json"), str(tmp_path / "new.json"), "--report-only"], monkeypatch)
    check(report, "regress")
    lines = rendered(report, "cases")
    names = [_joined(cell) for cell in column(lines, 0)]
    assert names == [c["id"] for c in base["cases"]]  # broken only after a `/`, never inside a word
    why = column(lines, -1)
    assert all(cell[0].startswith("slower by 30.0%") for cell in why)
    assert max(len(cell) for cell in why) <= 4, why


def column(lines: list[str], index: int, anchor: int = 1) -> list[list[str]]:
    """One column's cells under the header of a rendered table, each as its wrapped lines; a row starts where
    the `anchor` column (a number: one line a row) has text."""
    cells: list[list[str]] = []
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1 :]
    for line in body:
        if not line.startswith("│"):
            break
        parts = [p.strip() for p in line.strip("│").split("│")]
        if parts[anchor] or not cells:
            cells.append([parts[index]])
        elif parts[index]:
            cells[-1].append(parts[index])
    return cells


def _joined(cell: list[str]) -> str:
    """A wrapped cell's text: lines broken after `/` join without a space."""
    text = cell[0]
    for line in cell[1:]:
        text += line if text.endswith("/") else f" {line}"
    return text


def test_attention():
    from swinprof.studies.attention import compare_attention

    comparison = compare_attention("swin_digits", res=32, batch=1, impls=["reference", "sdpa"], warmup=0, iters=1,
                                   block_iters=1)  # fmt: skip
    check(comparison.report(), "attention")


def test_memory():
    """The step table from measured numbers (the meters themselves are tested in tests/studies)."""
    from swinprof.optimize.memory_options import MemoryConfig, StepMemory
    from swinprof.studies.memory import ProcessPeak, add_steps_table, memory_frame

    blocks = dict(checkpoint_stages=(0, 1, 2, 3), granularity="block")
    configs = [MemoryConfig(), MemoryConfig(**blocks), MemoryConfig(**blocks, seq_chunks=4, seq_stages=(0, 1))]
    mib = 2**20
    mems = [StepMemory(t * mib, 110 * mib, 110 * mib, 220 * mib, a * mib, 3 * mib) for t, a in ((900, 600),
            (500, 180), (460, 150))]  # fmt: skip
    procs = [ProcessPeak(p * mib, 700 * mib, 1) for p in (1650, 1300, 1280)]
    frame = memory_frame(configs, mems, procs, [812.0, 1040.5, 1133.2], "train")
    report = Report("memory")
    add_steps_table(report, frame, "train", torch.device("cpu"), [])
    check(report, "memory")
    labels = column(rendered(report, "steps"), 0)
    assert [_joined(cell) for cell in labels] == [c.label for c in configs]
    assert all(len(cell) <= 3 for cell in labels), labels  # a few words a line, never one word a row


def test_run(tmp_path):
    from swinprof.measure.environment import environment
    from swinprof.optimize.presets import get_recipe
    from swinprof.studies.recipe_record import run_report
    from swinprof.studies.recipe_run import RunOptions, plan_run, run_plan
    from tests.optimize.tiny import tiny_model

    options = RunOptions(batch_sizes=(2,), warmup=0, iters=1, eval_batch_size=2, fidelity_samples=2,
                         process_memory=False)  # fmt: skip
    plan = plan_run([get_recipe(n) for n in ("fp32-eager", "int8-dynamic")], options)
    check(run_report(run_plan(plan, tmp_path, model=tiny_model()), environment("cpu")), "run")


@pytest.fixture(scope="module")
def profile_report(tmp_path_factory) -> Report:
    from swinprof.profile.collect import ProfileOptions
    from swinprof.profile.swin import profile_swin

    cache = tmp_path_factory.mktemp("peaks") / "peaks.json"
    return profile_swin("swin_digits", options=ProfileOptions(warmup=0, iters=1, peak_cache=cache))


def test_profile(profile_report):
    check(profile_report, "profile")


def test_a_long_op_name_keeps_the_roofline_a_table(profile_report):
    """Long op names (sdpa's `aten._scaled_dot_product_flash_attention_for_cpu`) made the per-op roofline 85 lines
    of `column: value` records at 80 columns: the name folds, the table stays."""
    table = profile_report.table("roofline_ops")
    table.frame = table.frame.copy()
    table.frame.loc[0, "op"] = "aten._scaled_dot_product_flash_attention_for_cpu"
    lines = rendered(profile_report, "roofline_ops")
    assert_fits(lines, WIDTH)
    assert len(header_cells(lines)) == 1 and not any(line.startswith("[1]") for line in lines)
    assert len(lines) < 2 * len(table.frame) + 12
