"""A PT2E switchboard of the tiny model, built once for the sensitivity and budget tests (export is slow)."""

from __future__ import annotations

import pytest

from swinprof.optimize.presets import get_recipe
from swinprof.optimize.switch import build_switchboard
from tests.optimize.tiny import inputs, tiny_model


@pytest.fixture(scope="session")
def pt2e_board():
    """(fp32 tiny model, the int8-x86-cpu recipe, its calibration batches, a switchboard with every layer on)."""
    model = tiny_model()
    recipe = get_recipe("int8-x86-cpu")
    calibration = [inputs(4, seed=10)]
    board, _ = build_switchboard(recipe, model, calibration)
    return model, recipe, calibration, board
