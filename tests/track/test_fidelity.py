"""Fidelity beside latency: a planted accuracy drop in a results file makes `regress` exit 1."""

from __future__ import annotations

import pytest

from swinprof.cli.main import main
from swinprof.errors import SwinprofError
from swinprof.track.fidelity import parse_limit
from swinprof.track.results import save_results


def _with_fidelity(results, sqnr_db: float, top1: float):
    for case in results.cases:
        case.spec["fidelity"] = {"sqnr_db": sqnr_db, "top1_agreement": top1}
    return results


def test_planted_sqnr_drop_exits_1_at_the_same_latency(tmp_path, make_results, capsys):
    base = save_results(_with_fidelity(make_results(1), 32.0, 0.99), tmp_path / "b.json")
    same = save_results(_with_fidelity(make_results(2), 31.8, 0.99), tmp_path / "same.json")
    worse = save_results(_with_fidelity(make_results(2), 27.5, 0.99), tmp_path / "worse.json")
    assert main(["regress", str(base), str(same)]) == 0
    capsys.readouterr()
    assert main(["regress", str(base), str(worse), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "Fidelity vs fp32 per case" in out and "| regression |" in out
    assert main(["regress", str(base), str(worse), "--accuracy-threshold", "5dB"]) == 0


def test_planted_top1_agreement_drop_exits_1(tmp_path, make_results):
    base = save_results(_with_fidelity(make_results(1), 32.0, 0.99), tmp_path / "b.json")
    worse = save_results(_with_fidelity(make_results(2), 32.0, 0.95), tmp_path / "w.json")
    assert main(["regress", str(base), str(worse)]) == 1
    assert main(["regress", str(base), str(worse), "--top1-threshold", "5pt"]) == 0


def test_thresholds_are_parsed_or_refused(tmp_path, make_results, capsys):
    assert parse_limit("1dB", "dB") == parse_limit("1 db", "dB") == 1.0
    assert parse_limit("0.5pt", "points") == 0.5
    with pytest.raises(SwinprofError, match="not understood"):
        parse_limit("-1dB", "dB")
    base = str(save_results(make_results(1), tmp_path / "b.json"))
    assert main(["regress", base, base, "--accuracy-threshold", "lots"]) == 2
    assert "not understood" in capsys.readouterr().err
