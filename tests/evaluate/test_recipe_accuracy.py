"""Per-recipe accuracy of a run: paired drop, agreement with fp32, and the flag on a backend that disagrees."""

from __future__ import annotations

import pytest

from swinprof.evaluate.imagefolder import Accuracy
from swinprof.evaluate.recipe_accuracy import agreement_warnings, recipe_accuracy_frame


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
