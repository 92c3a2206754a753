"""The bench / regress / history subcommands end to end: exit codes 0/1/2 and the markdown report."""

from pathlib import Path

import pytest

from swinprof.cli.main import main
from swinprof.track.results import load_results, save_results

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path, make_results):
    def write(name, *args, **kwargs):
        return str(save_results(make_results(*args, **kwargs), tmp_path / name))

    return write


def test_no_regression_exits_0(files, capsys):
    assert main(["regress", files("b.json", 1), files("c.json", 2), "--threshold", "5%"]) == 0
    assert "UNCHANGED" in capsys.readouterr().out


def test_regression_exits_1_and_report_only_exits_0(files, tmp_path):
    base, slow = files("b.json", 1), files("c.json", 2, scale=1.2)
    assert main(["regress", base, slow, "--threshold", "5%"]) == 1
    md = tmp_path / "report.md"
    assert main(["regress", base, slow, "--threshold", "0.05", "--report-only", "--markdown", str(md)]) == 0
    text = md.read_text()
    assert text.startswith("# swinprof latency report: ci-bench-tiny: REGRESSION") and "report-only" in text
    assert text.count("| regression |") == 2
    assert "| case | baseline cpu ms | current cpu ms | ratio | 95% CI | p | verdict | why |" in text


def test_a_big_threshold_tolerates_the_same_slowdown(files):
    assert main(["regress", files("b.json", 1), files("c.json", 2, scale=1.2), "--threshold", "30%"]) == 0


def test_markdown_shows_the_environment_diff_and_history(files, tmp_path):
    base = files("b.json", 1)
    new = files("c.json", 2, env={"torch": "2.14.0+cpu", "git_sha": "b" * 40, "git_dirty": True})
    store = tmp_path / "h.jsonl"
    for f in (base, base, new):
        assert main(["history", "add", f, "--store", str(store)]) == 0
    md, png = tmp_path / "r.md", tmp_path / "plots" / "h.png"
    assert main(["regress", base, new, "--markdown", str(md), "--history", str(store), "--plot", str(png)]) == 0
    text = md.read_text()
    assert "| torch | 2.13.0+cpu | 2.14.0+cpu |" in text
    assert "`bbbbbbbbbb` (dirty)" in text
    assert f"![latency history]({png})" in text and "3 runs of `ci-bench-tiny` in the history" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["regress", "missing.json", "missing2.json"],
        ["regress", "B", "C", "--threshold", "5"],
        ["regress", "B", "OTHER"],
        ["regress", "B", "NOCASE"],
        ["history", "show", "--store", "nothing.jsonl"],
        ["bench", "missing.toml", "-o", "x.json"],
    ],
)
def test_bad_input_exits_2_with_one_line(files, make_results, capsys, argv, tmp_path):
    named = {
        "B": files("b.json", 1),
        "C": files("c.json", 2),
        "OTHER": files("o.json", 2, suite="another-suite"),
        "NOCASE": files("n.json", 2, cases=("tiny:swin_t/64/b2/reference/fp32-eager",)),
    }
    argv = [named.get(a, a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swinprof: error:") and "\n" not in err


def test_bench_cli_writes_results_and_a_history_plot(tmp_path):
    out, store, png = tmp_path / "r.json", tmp_path / "h.jsonl", tmp_path / "h.png"
    suite = ROOT / "recipes" / "suites" / "ci-bench-tiny.toml"
    assert (
        main(["bench", str(suite), "-o", str(out), "--samples", "3", "--warmup", "1", "--processes", "1", "--quiet"])
        == 0
    )
    r = load_results(out)
    assert r.suite_name == "ci-bench-tiny" and all(len(c.samples_ms) == 3 for c in r.cases)
    assert main(["history", "add", str(out), "--store", str(store)]) == 0
    assert main(["history", "show", "--store", str(store), "--plot", str(png)]) == 0
    assert png.stat().st_size > 0
    # three samples are too few to judge: uncertain, exit 0
    assert main(["regress", str(out), str(out)]) == 0


def test_planted_slowdown_is_recorded_and_flagged(tmp_path, capsys):
    out = tmp_path / "p.json"
    suite = ROOT / "recipes" / "suites" / "ci-bench-tiny.toml"
    assert main(["bench", str(suite), "-o", str(out), "--samples", "2", "--warmup", "0", "--planted-slowdown",
                 "1.15", "--processes", "1", "--quiet"]) == 0  # fmt: skip
    assert load_results(out).planted_slowdown == 1.15
    assert main(["regress", str(out), str(out)]) == 0
    assert "PLANTED slowdown x1.15" in capsys.readouterr().out


def test_the_verdict_line_says_report_only_and_whether_the_cpus_match(files, capsys):
    avx2 = {"cpu_features": "avx2 fma"}
    base, same_cpu = files("b.json", 1, env=avx2), files("c.json", 2, scale=1.2, env=avx2)
    other_cpu = files("d.json", 3, scale=1.2, env={"cpu": "Intel Xeon", "cpu_features": "avx512f avx512_vnni"})
    unknown = files("e.json", 4, scale=1.2)  # same CPU name, no features recorded
    assert main(["regress", base, same_cpu, "--report-only"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("ci-bench-tiny: REGRESSION (report-only)")
    assert main(["regress", base, unknown, "--report-only"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("(report-only; informational: CPU match not shown)")
    assert main(["regress", base, other_cpu, "--report-only"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("REGRESSION (report-only; informational: CPUs differ)")
    assert "the CPUs differ (baseline: " in out and "Intel Xeon" in out and "verdict is informational" in out
    assert main(["regress", base, other_cpu]) == 1  # without --report-only a regression still fails the job
