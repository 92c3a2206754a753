"""Session fixtures of the studies' tests: a PT2E switchboard of the tiny model, built once for the sensitivity and
budget tests (export is slow); the tiny trained case, a very small Swin trained on sklearn digits once per session
(cached across sessions in pytest's cache folder, keyed by the code that makes it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import swinprof.models.config
import swinprof.studies.digits
import swinprof.studies.train
from swinprof.models import create_model, get_variant
from swinprof.models.preprocess import build_transform
from swinprof.optimize.presets import get_recipe
from swinprof.optimize.switch import build_switchboard
from swinprof.studies.digits import split_tensors, write_digits
from swinprof.studies.train import TrainSettings, train
from tests.optimize.tiny import inputs, tiny_model

# ~25k parameters, 4 epochs: seconds per epoch on one core
TINY_DIGITS = dict(embed_dim=16, depths=(1, 1), num_heads=(1, 2), drop_path_rate=0.0)
TINY_SETTINGS = TrainSettings(epochs=4, batch_size=32, lr=5e-3, warmup_epochs=1.0, seed=0)


@dataclass
class TinyTrained:
    model: torch.nn.Module
    test_root: Path  # the written test split (ImageFolder) and classes.txt beside it
    x: torch.Tensor  # test images (N, 3, 32, 32)
    y: torch.Tensor  # labels (N,)


def _key() -> str:
    sources = [swinprof.studies.digits, swinprof.studies.train, swinprof.models.config]
    text = "".join(Path(m.__file__).read_text() for m in sources) + repr((TINY_DIGITS, TINY_SETTINGS))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_trained(request, tmp_path_factory) -> TinyTrained:
    pytest.importorskip("sklearn", reason="the digits data set needs pip install 'swinprof[trained]'")
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir(f"swinprof-digits-{_key()}")) if cache is not None else tmp_path_factory.mktemp("digits")
    transform = build_transform(get_variant("swin_digits"))
    weights = root / "tiny.pt"
    if not (root / "test").is_dir():
        write_digits(root, seed=0, splits=("test",))
    if weights.is_file():
        model = create_model("swin_digits", **TINY_DIGITS)
        model.load_state_dict(torch.load(weights, weights_only=True))
    else:
        x, y = split_tensors("train", transform)
        model = train(lambda: create_model("swin_digits", **TINY_DIGITS), x, y, TINY_SETTINGS).model
        torch.save(model.state_dict(), weights)
    x, y = split_tensors("test", transform)
    return TinyTrained(model.eval(), root, x, y)


@pytest.fixture(scope="session")
def pt2e_board():
    """(fp32 tiny model, the int8-x86-cpu recipe, its calibration batches, a switchboard with every layer on)."""
    model = tiny_model()
    recipe = get_recipe("int8-x86-cpu")
    calibration = [inputs(4, seed=10)]
    board, _ = build_switchboard(recipe, model, calibration)
    return model, recipe, calibration, board
