"""The deployment choice of a run: per batch size, the fastest recipe at or above the fidelity floor, its near ties
and the faster recipes the floor cut, from the run's comparison rows."""

from __future__ import annotations

import math

from swinprof.studies.deploy_choice import Floor, choice_frame, choose, shortfall

BASE = "fp32-eager"


def _row(recipe, batch, ms, sqnr, d_acc1=None):
    return {"recipe": recipe, "batch": batch, "median_ms": ms, "speedup": 160.0 / ms, "sqnr_db": sqnr,
            "d_acc1": d_acc1}  # fmt: skip


# Issue 32's Zen 4 figures at batch 1 (ms and dB), and a batch 8 where the int8 path's lead is within 5%.
ROWS = [
    _row(BASE, 1, 160.0, math.inf), _row("bf16-autocast-cpu", 1, 89.9, 43.9), _row("openvino-bf16", 1, 61.1, 43.4),
    _row("openvino-int8", 1, 39.3, 34.2), _row("int8-noisy", 1, 30.0, 21.0),
    _row(BASE, 8, 1200.0, math.inf), _row("openvino-int8", 8, 400.0, 34.0), _row("openvino-bf16", 8, 410.0, 43.0),
]  # fmt: skip


def test_the_fastest_at_or_above_the_floor_per_batch():
    b1, b8 = choose(ROWS, Floor(min_sqnr_db=30.0))
    assert (b1.batch, b1.recipe, b1.sqnr_db) == (1, "openvino-int8", 34.2)
    assert b1.below_floor == ("int8-noisy (21.0 dB)",)  # faster, but under 30 dB: named with what it missed
    assert (b8.recipe, b8.close) == ("openvino-int8", ("openvino-bf16",))  # 2.5% slower: a tie on a shared machine
    assert "within 5%: openvino-bf16" in b8.line(BASE)


def test_a_higher_floor_moves_the_choice_to_bf16():
    (b1, _) = choose(ROWS, Floor(min_sqnr_db=40.0))
    assert b1.recipe == "openvino-bf16"
    assert b1.below_floor == ("int8-noisy (21.0 dB)", "openvino-int8 (34.2 dB)")  # fastest first
    assert b1.line(BASE) == "batch 1: openvino-bf16, 2.62x fp32-eager (61.1 ms), SQNR 43.4 dB"


def test_fp32_eager_is_the_answer_when_nothing_else_meets_the_floor():
    (b1, _) = choose(ROWS, Floor(min_sqnr_db=60.0))
    assert b1.recipe == BASE and b1.line(BASE) == "batch 1: fp32-eager (no recipe is faster at or above the floor)"
    frame = choice_frame([b1])
    assert frame.loc[0, "deploy"] == BASE and frame.loc[0, "SQNR dB"] is None  # infinite: shown blank


def test_on_labeled_images_the_accuracy_drop_counts_too():
    rows = [_row(BASE, 1, 160.0, math.inf, 0.0), _row("openvino-int8", 1, 39.3, 34.2, -1.5),
            _row("openvino-bf16", 1, 61.1, 43.4, -0.2)]  # fmt: skip
    (b1,) = choose(rows, Floor(min_sqnr_db=30.0, max_acc_drop=1.0))
    assert (b1.recipe, b1.d_acc1) == ("openvino-bf16", -0.2)
    assert b1.below_floor == ("openvino-int8 (acc@1 -1.50 pt)",)
    assert shortfall(rows[1], Floor(30.0, max_acc_drop=2.0)) is None
    assert shortfall({"sqnr_db": float("nan")}, Floor()) == "SQNR not measured"


def test_the_frame_names_its_columns_for_people():
    frame = choice_frame(choose(ROWS, Floor()))
    assert list(frame.columns) == ["batch", "deploy", "speedup vs fp32", "median ms", "SQNR dB", "Δacc@1",
                                   "within 5%", "faster, below the floor"]  # fmt: skip
    assert list(frame["deploy"]) == ["openvino-int8", "openvino-int8"]


def test_a_recipe_with_fp32s_own_logits_is_still_a_recipe_not_the_baseline():
    rows = [_row(BASE, 1, 160.0, math.inf), _row("openvino-fp32", 1, 110.0, math.inf)]
    (b1,) = choose(rows, Floor())
    assert b1.line(BASE) == "batch 1: openvino-fp32, 1.45x fp32-eager (110.0 ms), logits identical to fp32"
