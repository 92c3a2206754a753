"""Top-1 accuracy in results files: regress fails only on a drop beyond the threshold AND significant."""

from __future__ import annotations

import numpy as np
import pytest

from swinprof.cli.main import main
from swinprof.errors import ResultsError
from swinprof.measure.stats import REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.track.accuracy_drop import CaseAccuracy, compare_case
from swinprof.track.regress import compare_results
from swinprof.track.results import save_results

N = 540


def _correct(hits: int, flip: int = 0, seed: int = 0) -> list[int]:
    """`hits` of N right; then `flip` of the right ones made wrong (a planted drop on the same images)."""
    v = np.zeros(N, int)
    v[np.random.default_rng(seed).permutation(N)[:hits]] = 1
    v[np.flatnonzero(v)[:flip]] = 0
    return v.tolist()


def _with_accuracy(results, correct: list[int] | None, top1: int | None = None):
    for case in results.cases:
        acc = {"images": N, "top1": sum(correct) if correct else top1, "data": "digits test seed 0"}
        if correct is not None:
            acc["correct"] = correct
        case.spec["accuracy"] = acc
    return results


def test_a_a_passes_and_a_planted_significant_drop_fails(tmp_path, make_results, capsys):
    base_correct = _correct(530)
    base = save_results(_with_accuracy(make_results(1), base_correct), tmp_path / "b.json")
    same = save_results(_with_accuracy(make_results(2), base_correct), tmp_path / "aa.json")
    worse = save_results(_with_accuracy(make_results(2), _correct(530, flip=20)), tmp_path / "w.json")
    assert main(["regress", str(base), str(same)]) == 0
    capsys.readouterr()
    assert main(["regress", str(base), str(worse), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "Top-1 accuracy per case" in out and "McNemar exact (paired)" in out and "| regression |" in out
    assert main(["regress", str(base), str(worse), "--acc-threshold", "5pt"]) == 0  # 3.7 pt is within 5 pt


def test_a_drop_within_noise_is_uncertain_not_a_regression(make_results):
    # 3 images lost (0.56 pt), none gained: p = 0.25, the interval reaches past 0.5 pt -> uncertain
    base = _with_accuracy(make_results(1), _correct(530))
    new = _with_accuracy(make_results(2), _correct(530, flip=3))
    cmp = compare_results(base, new, acc_points=0.5, alpha=0.05)
    assert {d.verdict for d in cmp.top1} == {UNCERTAIN}
    assert not cmp.has_regression
    d = cmp.top1[0]
    assert d.drop == pytest.approx(100 * 3 / N) and d.p_value == pytest.approx(0.25)


def test_significant_but_small_drop_is_unchanged():
    a = CaseAccuracy(N, 530, tuple([True] * 530 + [False] * 10), None)
    b = CaseAccuracy(N, 522, tuple([True] * 522 + [False] * 18), None)
    d = compare_case("c", a, b, threshold=2.0, alpha=0.05)  # 8 lost of 8 discordant: p = 2/256, drop 1.5 pt
    assert d.p_value == pytest.approx(2 / 256) and d.verdict == UNCHANGED


def test_counts_only_compare_unpaired(make_results):
    base = _with_accuracy(make_results(1), None, top1=530)
    new = _with_accuracy(make_results(2), None, top1=480)
    cmp = compare_results(base, new, acc_points=1.0, alpha=0.05)
    assert all(d.test.startswith("Fisher") and d.verdict == REGRESSION for d in cmp.top1)
    assert cmp.top1[0].low > 0


def test_malformed_accuracy_is_refused(make_results):
    base = _with_accuracy(make_results(1), _correct(530))
    bad = _with_accuracy(make_results(2), _correct(530))
    bad.cases[0].spec["accuracy"]["top1"] = 7
    with pytest.raises(ResultsError, match="correct has 530 ones but top1 is 7"):
        compare_results(base, bad)
