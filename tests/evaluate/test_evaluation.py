"""One evaluation pass: per-image results for every model, logits only for the fidelity subset, a journal that
commits chunks and resumes from them, and refusals that name what differs."""

from __future__ import annotations

import json

import pytest
import torch

from swinprof.errors import DataPathError, UsageError
from swinprof.evaluate import evaluation
from swinprof.evaluate.evaluation import evaluate
from swinprof.evaluate.imagefolder import accuracy_of, scan_images
from swinprof.evaluate.journal import FOLDER, Journal
from swinprof.models.preprocess import build_transform
from tests.evaluate.test_imagefolder import channel_model, write_folder

PLAN = {"recipes": ["fp32-eager"], "options": {"batch": 4, "seed": 0}}


@pytest.fixture
def images(tmp_path):
    root = write_folder(tmp_path / "data", per_class=7)  # 21 solid-colour images, 3 classes
    (tmp_path / "classes.txt").write_text("red 0\ngreen 1\nblue 2\n")
    return scan_images(root, tmp_path / "classes.txt")


def shuffled(x: torch.Tensor) -> torch.Tensor:
    """Right on red, wrong (second best) on green and blue."""
    logits = channel_model(x)
    red = logits[:, :1] > logits[:, 1:3].max(1, keepdim=True).values
    return torch.where(red, logits, logits[:, [0, 2, 1, 3, 4, 5]])


def test_per_image_results_keep_ids_and_logits_only_for_the_fidelity_subset(images):
    done = evaluate({"right": channel_model, "some": shuffled}, images, build_transform(32), 4, keep_logits=5)
    accuracy = done.accuracy()
    assert accuracy["right"].acc1 == 100.0 and accuracy["right"].ids == tuple(images.ids)
    assert accuracy["some"].acc1 == pytest.approx(100 * 7 / 21) and accuracy["some"].acc5 == 100.0
    assert {name: tuple(t.shape) for name, t in done.logits.items()} == {"right": (5, 6), "some": (5, 6)}
    assert done.top["right"].shape == (21, 5) and done.top["right"].dtype == torch.int32
    assert done.rates.images == 21 and done.rates.model_s > 0 and done.rates.resumed == 0
    in_a_worker = accuracy_of({"right": channel_model}, images, build_transform(32), 4, workers=1)
    assert in_a_worker["right"] == accuracy["right"]


def test_a_journal_commits_chunks_and_a_resume_reads_them_instead_of_evaluating(images, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "CHUNK_BATCHES", 2)  # 6 batches: three commits
    journal = Journal.open(tmp_path / "out", PLAN, resume=False)
    first = evaluate({"m": channel_model}, images, build_transform(32), 4, keep_logits=3, journal=journal)
    assert len(list((tmp_path / "out" / FOLDER).glob("chunk-*.pt"))) == 3

    def never(_x):
        raise AssertionError("a resumed batch was evaluated again")

    resumed = evaluate({"m": never}, images, build_transform(32), 4, keep_logits=3,
                       journal=Journal.open(tmp_path / "out", PLAN, resume=True))  # fmt: skip
    assert torch.equal(resumed.top["m"], first.top["m"]) and torch.equal(resumed.logits["m"], first.logits["m"])
    assert resumed.accuracy() == first.accuracy() and resumed.rates.resumed == 21 and resumed.rates.images == 0


def test_a_half_finished_journal_resumes_with_only_the_missing_batches(images, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "CHUNK_BATCHES", 1)
    whole = evaluate({"m": channel_model}, images, build_transform(32), 4)
    journal = Journal.open(tmp_path / "out", PLAN, resume=False)
    calls = []

    def stops_after_three(x):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run dies mid-way; three batches were committed
        calls.append(1)
        return channel_model(x)

    with pytest.raises(KeyboardInterrupt):
        evaluate({"m": stops_after_three}, images, build_transform(32), 4, journal=journal)
    counted = []
    resumed = evaluate({"m": lambda x: counted.append(1) or channel_model(x)}, images, build_transform(32), 4,
                       journal=Journal.open(tmp_path / "out", PLAN, resume=True))  # fmt: skip
    assert len(counted) == 3 and resumed.rates.resumed == 12  # batches 3, 4, 5 (9 images) evaluated now
    assert torch.equal(resumed.top["m"], whole.top["m"]) and resumed.accuracy() == whole.accuracy()


def test_a_journal_is_never_overwritten_nor_resumed_with_other_arguments(tmp_path):
    journal = Journal.open(tmp_path / "out", PLAN, resume=False)
    assert not (tmp_path / "out").exists()  # nothing on disk before the first commit (a run cut early leaves none)
    journal.commit({0: {"top": {"m": torch.zeros(1, 5, dtype=torch.int32)}, "logits": {}}})
    with pytest.raises(UsageError, match=r"holds an unfinished run .*--resume"):
        Journal.open(tmp_path / "out", PLAN, resume=False)
    other = json.loads(json.dumps(PLAN))
    other["options"]["batch"] = 8
    with pytest.raises(UsageError, match=r"options\.batch was 4, now 8"):
        Journal.open(tmp_path / "out", other, resume=True)
    (tmp_path / "out" / FOLDER / "chunk-000001.pt").write_bytes(b"not a chunk")
    with pytest.raises(DataPathError, match=r"chunk-000001\.pt.* is unreadable"):
        Journal.open(tmp_path / "out", PLAN, resume=True).done()


def test_progress_reaches_the_total(images):
    seen = []
    evaluate({"m": channel_model}, images, build_transform(32), 4, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (21, 21) and all(d <= t for d, t in seen)
