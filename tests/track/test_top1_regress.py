"""Top-1 accuracy in results files: regress fails only on a drop beyond the threshold AND significant, pairs
per-image results by image id (never by position), and says why when it cannot pair."""

from __future__ import annotations

import numpy as np
import pytest

from swinprof.cli.main import main
from swinprof.errors import ResultsError
from swinprof.measure.stats import REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.track.accuracy_drop import PAIRED_BY_ID, CaseAccuracy, compare_case
from swinprof.track.regress import compare_results
from swinprof.track.results import save_results

N = 540
IDS = [f"{i % 10}/img_{i:04d}.png" for i in range(N)]


def _correct(hits: int, flip: int = 0, seed: int = 0) -> list[int]:
    """`hits` of N right; then `flip` of the right ones made wrong (a planted drop on the same images)."""
    v = np.zeros(N, int)
    v[np.random.default_rng(seed).permutation(N)[:hits]] = 1
    v[np.flatnonzero(v)[:flip]] = 0
    return v.tolist()


def _with_accuracy(results, correct: list[int] | None, top1: int | None = None, ids: list[str] | None = IDS,
                   order: np.ndarray | None = None, data: str = "digits test seed 0"):  # fmt: skip
    """Every case gets `accuracy`; `order` permutes the images (as an out-of-order gather would)."""
    for case in results.cases:
        acc = {"images": N, "top1": sum(correct) if correct else top1, "data": data}
        if correct is not None:
            idx = np.arange(N) if order is None else order
            acc["correct"] = [correct[i] for i in idx]
            if ids is not None:
                acc["ids"] = [ids[i] for i in idx]
        case.spec["accuracy"] = acc
    return results


def _rerun(base: list[int], swaps: int, seed: int) -> list[int]:
    """The same accuracy on other images: `swaps` right images made wrong and as many wrong ones made right."""
    v, rng = np.array(base), np.random.default_rng(seed)
    v[rng.choice(np.flatnonzero(v == 1), swaps, replace=False)] = 0
    v[rng.choice(np.flatnonzero(np.array(base) == 0), swaps, replace=False)] = 1
    return v.tolist()


def test_a_a_passes_and_a_planted_significant_drop_fails(tmp_path, make_results, capsys):
    base_correct = _correct(530)
    base = save_results(_with_accuracy(make_results(1), base_correct), tmp_path / "b.json")
    # A/A: a rerun with the same accuracy that disagrees with the baseline on 16 images (8 each way), written
    # in another image order: paired by id, 8 lost / 8 gained, p = 1, no regression
    order = np.random.default_rng(5).permutation(N)
    same = save_results(_with_accuracy(make_results(2), _rerun(base_correct, 8, 3), order=order), tmp_path / "aa.json")
    worse = save_results(_with_accuracy(make_results(2), _correct(530, flip=20)), tmp_path / "w.json")
    assert main(["regress", str(base), str(same), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "McNemar exact (paired)" in out and "| regression |" not in out and "compared unpaired" not in out
    cmp = compare_results(_with_accuracy(make_results(1), base_correct),
                          _with_accuracy(make_results(2), _rerun(base_correct, 8, 3), order=order))  # fmt: skip
    d = cmp.top1[0]
    assert d.paired and d.drop == 0 and d.p_value == 1.0 and d.verdict in (UNCHANGED, UNCERTAIN)
    assert main(["regress", str(base), str(worse), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "Top-1 accuracy per case" in out and "McNemar exact (paired)" in out and "| regression |" in out
    assert main(["regress", str(base), str(worse), "--acc-threshold", "5pt"]) == 0  # 3.7 pt is within 5 pt


def test_a_a_reruns_are_called_regressions_no_more_often_than_alpha_allows():
    # 300 A/A comparisons: each image right with its own probability (most easy, some hard), drawn independently
    # for the two runs. A correct paired test at alpha 0.05 with a 0.5 pt limit calls a regression in at most
    # 2.5% of them (one tail), a broken one (a one-sided p doubled twice, an interval too narrow) far more often.
    rng = np.random.default_rng(11)
    p_right = np.where(rng.random(N) < 0.9, 0.99, 0.6)
    regressions = 0
    for _ in range(300):
        a, b = rng.random(N) < p_right, rng.random(N) < p_right
        d = compare_case("c", CaseAccuracy(N, int(a.sum()), a, None, tuple(IDS)),
                         CaseAccuracy(N, int(b.sum()), b, None, tuple(IDS)), threshold=0.5, alpha=0.05)  # fmt: skip
        regressions += d.verdict == REGRESSION
    assert regressions <= 12  # 2.5% of 300 is 7.5; binomial spread allows a few more, 5% (15) does not pass


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
    ids = tuple(IDS)
    a = CaseAccuracy(N, 530, tuple([True] * 530 + [False] * 10), None, ids)
    b = CaseAccuracy(N, 522, tuple([True] * 522 + [False] * 18), None, ids)
    d = compare_case("c", a, b, threshold=2.0, alpha=0.05)  # 8 lost of 8 discordant: p = 2/256, drop 1.5 pt
    assert d.p_value == pytest.approx(2 / 256) and d.verdict == UNCHANGED and d.pairing == PAIRED_BY_ID


def test_counts_only_compare_unpaired_and_say_why(make_results):
    base = _with_accuracy(make_results(1), None, top1=530)
    new = _with_accuracy(make_results(2), None, top1=480)
    cmp = compare_results(base, new, acc_points=1.0, alpha=0.05)
    assert all(d.test.startswith("Fisher") and d.verdict == REGRESSION for d in cmp.top1)
    assert cmp.top1[0].low > 0
    assert any(w.startswith("top-1 of 2 cases (") and "neither file carries per-image correctness" in w
               for w in cmp.warnings)  # fmt: skip


def test_files_over_different_images_never_pair(make_results):
    # same length, same data description, same correctness vector: but the ids say these are other images
    correct = _correct(530)
    other = [f"{i % 10}/other_{i:04d}.png" for i in range(N)]
    cmp = compare_results(_with_accuracy(make_results(1), correct), _with_accuracy(make_results(2), correct, ids=other))
    d = cmp.top1[0]
    assert not d.paired and d.test == "Fisher exact (unpaired)"
    assert d.pairing.startswith("the files scored different images (540 only in the baseline, 540 only in the current")
    assert any("compared unpaired" in w and "different images" in w for w in cmp.warnings)


def test_files_without_ids_still_read_and_compare_unpaired(make_results):
    correct = _correct(530)
    older = _with_accuracy(make_results(1), correct, ids=None)  # written before ids were recorded
    cmp = compare_results(older, _with_accuracy(make_results(2), _correct(530, flip=20)))
    d = cmp.top1[0]
    assert not d.paired and d.verdict == REGRESSION  # 3.7 pt still significant unpaired (Fisher)
    assert "the baseline file carries no image ids" in d.pairing
    assert any("written before ids were recorded" in w for w in cmp.warnings)


def test_same_images_described_differently_pair_by_id_with_a_warning(make_results):
    correct = _correct(530)
    cmp = compare_results(_with_accuracy(make_results(1), correct, data="/data/digits/test"),
                          _with_accuracy(make_results(2), correct, data="/ci/cache/digits/test"))  # fmt: skip
    assert cmp.top1[0].paired
    assert any("paired by image id although the files describe their images differently" in w for w in cmp.warnings)


@pytest.mark.parametrize(("edit", "says"), [
    (lambda a: a.update(top1=7), "correct has 530 ones but top1 is 7"),
    (lambda a: a.update(correct=a["correct"][:-1]), "correct must be 540 values 0 or 1"),
    (lambda a: a.update(correct=["1"] * N), "correct must be 540 values 0 or 1"),
    (lambda a: a.update(ids=[*a["ids"][:-1], a["ids"][0]]), "ids name 1 image(s) twice"),
    (lambda a: a.update(ids=a["ids"][:-1]), "ids must be 540 non-empty strings"),
    (lambda a: a.update(ids=[*a["ids"][:-1], 5]), "ids must be 540 non-empty strings"),
    (lambda a: a.pop("correct"), "ids without correct"),
])  # fmt: skip
def test_malformed_accuracy_is_refused(make_results, edit, says):
    base = _with_accuracy(make_results(1), _correct(530))
    bad = _with_accuracy(make_results(2), _correct(530))
    edit(bad.cases[0].spec["accuracy"])
    with pytest.raises(ResultsError, match=says.replace("(", r"\(").replace(")", r"\)")):
        compare_results(base, bad)


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--acc-threshold", "200%", "is 200 points: a top-1 drop never exceeds 100"),
    ("--acc-threshold", "101pt", "is 101 points"),
    ("--acc-threshold", "999999999", "is 1e+09 points"),
    ("--acc-threshold", "100", "is 100 points"),
    ("--top1-threshold", "500%", "is 500 points"),
    ("--acc-threshold", "abc", "'abc' not understood"),
    ("--acc-threshold", "nan", "'nan' not understood"),
    ("--top1-threshold", "nan", "'nan' not understood"),
    ("--accuracy-threshold", "abc", "'abc' not understood: give e.g. 1dB"),
    ("--threshold", "nan", "'nan' not understood"),
    ("--threshold", "200%", "'200%' not understood"),
])  # fmt: skip
def test_a_limit_that_switches_the_check_off_or_is_not_a_number_is_refused_naming_the_option(
    tmp_path, make_results, capsys, option, value, says
):
    base = str(save_results(_with_accuracy(make_results(1), _correct(530)), tmp_path / "b.json"))
    assert main(["regress", base, base, option, value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {option}:" in err and says in err, err


def test_min_samples_1_never_gives_a_zero_width_unchanged(tmp_path, make_results, capsys):
    base = str(save_results(make_results(1, n=3), tmp_path / "b.json"))
    new = str(save_results(make_results(2, n=3), tmp_path / "c.json"))
    cmp = compare_results(make_results(1, n=3), make_results(2, n=3), min_samples=1)
    assert {c.decision.verdict for c in cmp.cases} == {UNCERTAIN}
    assert all("too few samples for a 95% interval (3 vs 3" in c.decision.reason for c in cmp.cases)
    assert main(["regress", base, new, "--min-samples", "1", "--format", "csv"]) == 0
    assert "too few samples for a 95% interval" in capsys.readouterr().out
