"""README's "Verified on" table from selfcheck reports (CPU ones in reports/, GPU ones in reports/gpu/)."""

from __future__ import annotations

from swinprof.cli.main import main
from swinprof.report.writer import report_json
from swinprof.selfcheck.run_paths import Outcome, build_report
from swinprof.selfcheck.summary import summary_report


def _write(path, device: str, statuses: dict[str, str], gpu: str | None = None) -> None:
    outcomes = [Outcome(name, "cpu,cuda", status, "needs CUDA") for name, status in statuses.items()]
    env = {"gpu": gpu, "cpu": "Test CPU", "cpu_count": 2, "timestamp": "2026-11-25T00:00:00+00:00", "git_sha": "abc"}
    report = build_report(outcomes, {"device": device, "quick": True}, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_json(report))


def test_paths_by_run_and_the_no_gpu_note(tmp_path):
    _write(tmp_path / "selfcheck-cpu.json", "cpu", {"profile": "ok", "recipe fp8-dynamic": "skipped"})
    report = summary_report(tmp_path)
    runs = report.table("runs").frame
    assert list(runs["run"]) == ["cpu quick (selfcheck-cpu)"] and runs["ok / skipped / failed"][0] == "1 / 1 / 0"
    paths = report.table("paths").frame.set_index("path")
    assert paths.loc["recipe fp8-dynamic", "cpu quick (selfcheck-cpu)"] == "skipped (needs CUDA)"
    assert any("no GPU run" in n for n in report.notes)


def test_gpu_reports_are_read_from_the_gpu_folder(tmp_path):
    _write(tmp_path / "selfcheck-cpu.json", "cpu", {"profile": "ok"})
    _write(tmp_path / "gpu" / "selfcheck-cuda.json", "cuda", {"profile": "ok", "headline x": "failed"}, gpu="H100")
    report = summary_report(tmp_path)
    runs = report.table("runs").frame
    assert "H100" in list(runs["hardware"]) and not any("no GPU run" in n for n in report.notes)
    paths = report.table("paths").frame.set_index("path")
    assert paths.loc["headline x", "cpu quick (selfcheck-cpu)"] == "-"


def test_summary_command_prints_markdown(tmp_path, capsys):
    _write(tmp_path / "selfcheck-cpu.json", "cpu", {"profile": "ok"})
    assert main(["selfcheck", "--summary", "--reports", str(tmp_path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| profile | ok |" in out


def test_summary_of_a_missing_folder_is_exit_2(tmp_path, capsys):
    assert main(["selfcheck", "--summary", "--reports", str(tmp_path / "nope")]) == 2
    assert "not a folder of reports" in capsys.readouterr().err
