"""Sensitivity: switchboards reproduce the recipe's numerics, rankings cover every layer, groups, the CLI's checks."""

from __future__ import annotations

import math

import torch

from swinprof.cli.main import main
from swinprof.evaluate.fidelity import sqnr_db
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.pt2e import quantize_pt2e_x86, resolve_reduce_range
from swinprof.optimize.switch import build_switchboard
from swinprof.studies.sensitivity import Probe, group_of, rank, score
from tests.optimize.tiny import inputs, tiny_model


def test_switchboard_all_on_is_the_recipes_graph_and_all_off_is_fp32(pt2e_board):
    model, recipe, calibration, board = pt2e_board
    q = recipe.quantize
    gm, layers = quantize_pt2e_x86(model, calibration, q.include, q.skip, resolve_reduce_range(q.reduce_range))
    assert board.layers == layers  # every layer the recipe quantizes has a switch
    x = inputs(3, seed=5)
    with torch.no_grad():
        expected, fp32 = gm(x), model(x)
    board.set(board.layers)
    assert sqnr_db(expected, board(x)) > 60  # same q/dq numerics (weights folded vs not)
    board.set(())
    torch.testing.assert_close(board(x), fp32, rtol=1e-4, atol=1e-4)
    board.set(board.layers)


def test_prefix_cache_gives_the_same_logits(pt2e_board):
    *_, board = pt2e_board
    x = inputs(2, seed=6)
    late = board.layers[-3:]
    board.set(late)
    uncached = board(x)
    board.cache(x)
    board.set(late)
    torch.testing.assert_close(board(x), uncached)
    board.set(board.layers)


def test_rank_scores_every_layer_most_sensitive_first(pt2e_board):
    model, _, _, board = pt2e_board
    probe = Probe.of(model, inputs(2, seed=7))
    result = rank(board, probe, "sqnr", "layer", "only")
    assert sorted(result.frame["group"]) == sorted(board.layers)
    values = list(result.frame["sqnr_db"])
    assert values == sorted(values) and all(math.isfinite(v) for v in values)
    # one layer alone is closer to fp32 than every layer together
    assert min(values) > result.quantized["sqnr_db"] - 1e-6
    stages = rank(board, probe, "top1-agreement", "stage", "all-but")
    assert set(stages.frame["group"]) == {"layers.0", "layers.1", "layers.2", "layers.3"}
    assert list(stages.frame["gain"]) == sorted(stages.frame["gain"], reverse=True)


def test_torchao_switchboard_swaps_linears():
    model = tiny_model()
    board, _ = build_switchboard(get_recipe("int8-dynamic"), model, [])
    probe = Probe.of(model, inputs(2, seed=8))
    assert math.isinf(score(board, [], probe)["sqnr_db"])
    assert 10 < score(board, board.layers, probe)["sqnr_db"] < math.inf


def test_groups():
    name = "layers.2.blocks.3.mlp.fc2"
    assert group_of(name, "block") == "layers.2.blocks.3"
    assert group_of(name, "stage") == "layers.2"
    assert group_of(name, "type") == "mlp.fc2"
    assert group_of("layers.0.downsample.reduction", "type") == "downsample.reduction"
    assert group_of("head", "stage") == "head"


def test_cli_refuses_accuracy_without_labeled_data(capsys):
    assert main(["sensitivity", "swin_t", "--recipe", "int8-x86-cpu", "--metric", "accuracy"]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["sensitivity", "swin_t", "--recipe", "onnx-ort-int8"]) == 2
    assert "supported: pt2e-int8-x86" in capsys.readouterr().err
