"""The tiny trained case in CI: it learned, two trainings agree, and top-1 regressions are caught with statistics."""

from __future__ import annotations

import os

import pytest
import torch

from swinprof.evaluate.significance import Rate
from swinprof.measure.stats import REGRESSION, UNCERTAIN, UNCHANGED
from swinprof.models import create_model
from swinprof.studies.train import TrainSettings, predictions, train
from swinprof.track.regress import compare_results
from swinprof.track.results import CaseResult, Results
from tests.studies.conftest import TINY_DIGITS


def _results(correct: torch.Tensor, seed: int, order: torch.Tensor | None = None) -> Results:
    """A one-case results file carrying top-1 correctness with image ids, its images listed in `order` (latency
    samples are placeholders, identical)."""
    samples = [1.0 + 0.01 * ((i * 7 + seed) % 5) for i in range(12)]
    order = torch.arange(len(correct)) if order is None else order
    acc = {"images": len(correct), "top1": int(correct.sum()), "correct": correct[order].int().tolist(),
           "ids": [f"test/{i:04d}.png" for i in order.tolist()], "data": "digits test"}  # fmt: skip
    case = CaseResult("digits", {"model": "swin_digits", "config": {}, "accuracy": acc}, samples, [])
    suite = {"name": "digits", "device": "cpu", "metric": "wall", "cases": []}
    return Results(suite, {"torch": torch.__version__}, {"workload": "w", "samples_ms": samples}, [case])


def test_two_trainings_from_scratch_give_the_same_weights(tiny_trained):
    x, y = tiny_trained.x[:64], tiny_trained.y[:64]
    settings = TrainSettings(epochs=1, batch_size=16, seed=3)
    build = lambda: create_model("swin_digits", **TINY_DIGITS)  # noqa: E731
    first, second = train(build, x, y, settings).model.state_dict(), train(build, x, y, settings).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)  # same seed, machine and threads: bitwise
    other = train(build, x, y, TrainSettings(epochs=1, batch_size=16, seed=4)).model.state_dict()
    assert not torch.equal(first["head.weight"], other["head.weight"])


def test_the_tiny_network_learned(tiny_trained):
    top1 = predictions(tiny_trained.model, tiny_trained.x)[:, 0]
    rate = Rate(int((top1 == tiny_trained.y).sum()), len(tiny_trained.y))
    assert rate.n == 539
    assert rate.interval[0] > 20  # chance is 10%: the whole 95% interval sits above it after 4 short epochs


def test_accuracy_regression_fails_on_a_planted_drop_and_passes_a_a(tiny_trained):
    model, x, y = tiny_trained.model, tiny_trained.x, tiny_trained.y
    right = predictions(model, x)[:, 0] == y
    # A/A: the same model on the same images with a little pixel noise (a rerun through another runtime), scored in
    # reversed order: some images flip either way, and pairing must go by image id, not by position
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    again = predictions(model, noisy)[:, 0] == y
    assert 0 < int((right != again).sum()) < 30
    broken = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # planted drop: classes 1, 3 and 7 can no longer win (~30% of the right answers lost)
        model.head.weight[[1, 3, 7]] = 0.0
        model.head.bias[[1, 3, 7]] = -100.0
        dropped = predictions(model, x)[:, 0] == y
    model.load_state_dict(broken)
    aa = compare_results(_results(right, 0), _results(again, 1, torch.arange(len(y)).flip(0)), acc_points=1.0,
                         alpha=0.05)  # fmt: skip
    assert aa.top1[0].paired and aa.top1[0].p_value > 0.05 and not aa.has_regression
    assert aa.top1[0].verdict in (UNCHANGED, UNCERTAIN)
    planted = compare_results(_results(right, 0), _results(dropped, 1), acc_points=1.0, alpha=0.05)
    assert [d.verdict for d in planted.top1] == [REGRESSION] and planted.has_regression
    assert planted.top1[0].drop > 3 and planted.top1[0].p_value < 0.01


def test_train_digits_refuses_bad_options_before_any_work(tmp_path, capsys):
    from swinprof.cli.main import main

    assert main(["train-digits", "-o", str(tmp_path / "d"), "--epochs", "0"]) == 2
    assert main(["train-digits", "-o", str(tmp_path / "d"), "--plant-outliers", "1"]) == 2
    assert "--plant-outliers" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def _interrupt_training(monkeypatch, tmp_path) -> list[str]:
    """Ctrl-C as training starts (the data set is written by then), with Python's temp folder under tmp_path;
    returns the folders the data set was built in."""
    import tempfile

    import swinprof.studies.trained as trained

    pytest.importorskip("sklearn", reason="the digits data set needs pip install 'swinprof[trained]'")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    built: list[str] = []

    def interrupted(build, x, y, settings, on_epoch=None):
        built.append(str(len(x)))
        raise KeyboardInterrupt

    monkeypatch.setattr(trained, "train", interrupted)
    return built


def test_ctrl_c_during_train_digits_leaves_no_data_set(tmp_path, monkeypatch, capsys):
    """The data set, class list and split used to be written straight into -o and stay there without a model."""
    from swinprof.cli.main import main

    built = _interrupt_training(monkeypatch, tmp_path)
    assert main(["train-digits", "-o", str(tmp_path / "d")]) == 130
    assert built == ["1078"]  # the whole train split was written and read before the interrupt
    assert sorted(os.listdir(tmp_path)) == ["tmp"] and os.listdir(tmp_path / "tmp") == []
    (tmp_path / "empty").mkdir()
    assert main(["train-digits", "-o", str(tmp_path / "empty")]) == 130
    assert os.listdir(tmp_path / "empty") == [] and os.listdir(tmp_path / "tmp") == []
    assert "interrupted" in capsys.readouterr().err


def test_train_digits_refuses_a_folder_that_holds_files(tmp_path, monkeypatch, capsys):
    """A second seed into the same folder used to add its split to the first (test images trained on)."""
    from swinprof.cli.main import main

    built = _interrupt_training(monkeypatch, tmp_path)
    old = tmp_path / "d" / "train" / "3"
    old.mkdir(parents=True)
    (old / "0042.png").write_bytes(b"an earlier split")
    assert main(["train-digits", "-o", str(tmp_path / "d"), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "not empty (train)" in err and "new or empty folder" in err and len(err.strip().splitlines()) == 1
    assert built == [] and os.listdir(tmp_path / "d") == ["train"] and os.listdir(old) == ["0042.png"]
