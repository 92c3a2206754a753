"""Per-recipe accuracy of a run: paired drop, agreement with fp32, and the flag on a backend that disagrees."""

from __future__ import annotations

import pytest

from swinprof.evaluate.imagefolder import Accuracy
from swinprof.evaluate.recipe_accuracy import agreement_warnings, recipe_accuracy_frame
from swinprof.measure.stats import StatisticsError


def _acc(predictions: list[int], labels: list[int]) -> Accuracy:
    hits = sum(p == y for p, y in zip(predictions, labels))
    return Accuracy(len(labels), 100 * hits / len(labels), 100.0, tuple(predictions), tuple(labels))


def test_paired_drop_agreement_and_flag():
    labels = [i % 10 for i in range(200)]
    fp32 = labels[:190] + [(y + 1) % 10 for y in labels[190:]]  # 190 right
    int8 = fp32[:185] + [(y + 1) % 10 for y in labels[185:190]] + labels[190:]  # 5 lost, 10 gained
    broken = [(y + 3) % 10 for y in labels[:20]] + fp32[20:]  # 20 answers changed: 90% agreement
    acc = {"fp32-eager": _acc(fp32, labels), "int8": _acc(int8, labels), "broken": _acc(broken, labels)}
    frame = recipe_accuracy_frame(acc, "fp32-eager").set_index("recipe")
    assert frame.loc["fp32-eager", "top-1 %"] == pytest.approx(95.0)
    assert frame.loc["int8", "drop pt"] == pytest.approx(-2.5)  # 5 lost, 10 gained of 200
    assert frame.loc["int8", "lost / gained"] == "5 / 10"
    assert frame.loc["int8", "McNemar p"] == pytest.approx(0.30175781, rel=1e-6)  # 2 * P(Bin(15, .5) <= 5)
    assert frame.loc["int8", "top-1 agree %"] == pytest.approx(100 * 185 / 200)
    assert frame.loc["broken", "top-1 agree %"] == pytest.approx(90.0)
    assert frame.loc["broken", "flag"].startswith("AGREEMENT < 97%")
    warnings = agreement_warnings(acc, "fp32-eager")
    assert len(warnings) == 2 and warnings[1].startswith("broken: top-1 agrees with fp32-eager on only 90.0%")


def _with_ids(a: Accuracy, ids: list[str], order: list[int] | None = None) -> Accuracy:
    """`a` with image ids, its per-image results optionally reordered (as an out-of-order gather returns them)."""
    order = list(range(len(ids))) if order is None else order
    return Accuracy(a.samples, a.acc1, a.acc5, tuple(a.predictions[i] for i in order),
                    tuple(a.labels[i] for i in order), tuple(ids[i] for i in order))  # fmt: skip


def test_pairing_is_by_image_id_whatever_the_order():
    labels = [i % 10 for i in range(200)]
    fp32 = labels[:190] + [(y + 1) % 10 for y in labels[190:]]
    int8 = fp32[:185] + [(y + 1) % 10 for y in labels[185:190]] + labels[190:]  # 5 lost, 10 gained
    ids = [f"{y}/img_{i:03d}.png" for i, y in enumerate(labels)]
    shuffled = list(reversed(range(200)))
    acc = {"fp32-eager": _with_ids(_acc(fp32, labels), ids), "int8": _with_ids(_acc(int8, labels), ids, shuffled)}
    row = recipe_accuracy_frame(acc, "fp32-eager").set_index("recipe").loc["int8"]
    # by position the reversed order would pair each image with another: ~180 discordant images, not 15
    assert row["lost / gained"] == "5 / 10" and row["top-1 agree %"] == pytest.approx(100 * 185 / 200)
    assert row["McNemar p"] == pytest.approx(0.30175781, rel=1e-6)
    assert agreement_warnings(acc, "fp32-eager")[0].startswith("int8: top-1 agrees with fp32-eager on only 92.5%")


def test_accuracies_over_different_images_are_refused():
    labels = [i % 10 for i in range(50)]
    a = _with_ids(_acc(labels, labels), [f"a_{i}.png" for i in range(50)])
    b = _with_ids(_acc(labels, labels), [f"b_{i}.png" for i in range(50)])
    with pytest.raises(StatisticsError, match="different image sets: 50 image"):
        recipe_accuracy_frame({"fp32-eager": a, "int8": b}, "fp32-eager")
    with pytest.raises(StatisticsError, match="over 50 and 40 images"):
        recipe_accuracy_frame({"fp32-eager": _acc(labels, labels), "x": _acc(labels[:40], labels[:40])}, "fp32-eager")
