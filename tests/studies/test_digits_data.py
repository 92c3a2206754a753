"""The digits ImageFolder: a seeded, stratified split written as 32x32 grayscale PNGs in class folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn", reason="the digits data set needs pip install 'swinprof[trained]'")

from swinprof.errors import SwinprofError
from swinprof.studies.digits import digits_files, load_arrays, split_indices, to_png
from swinprof.studies.outliers import layernorm_outliers, plant_outlier_channels, plantable
from tests.conftest import tiny_model


def test_split_is_stratified_disjoint_and_seeded():
    _, labels = load_arrays()
    split = split_indices(labels, seed=0)
    rows = [r for part in split.indices.values() for r in part]
    assert sorted(rows) == list(range(len(labels)))  # every image exactly once
    assert split.counts() == {"train": 1078, "calib": 180, "test": 539}
    for name, part in split.indices.items():  # each class keeps its share (within one image per class)
        share = np.bincount(labels[part], minlength=10) / np.bincount(labels, minlength=10)
        assert np.allclose(share, dict(zip(("train", "calib", "test"), (0.6, 0.1, 0.3)))[name], atol=0.02)
    assert split_indices(labels, seed=0) == split
    assert split_indices(labels, seed=1).indices["test"] != split.indices["test"]
    with pytest.raises(SwinprofError, match="summing to 1"):
        split_indices(labels, fractions=(0.5, 0.5, 0.5))


def test_png_is_32x32_grayscale_with_the_digit_range():
    from io import BytesIO

    from PIL import Image

    image = np.zeros((8, 8))
    image[2:6, 3] = 16
    png = Image.open(BytesIO(to_png(image)))
    assert png.size == (32, 32) and png.mode == "L"
    pixels = np.asarray(png)
    assert pixels.max() > 200 and pixels[:, :8].max() == 0  # ink in the middle columns only


def test_files_name_class_folders_and_the_class_map():
    files, split = digits_files(seed=0)
    assert files["classes.txt"] == b"0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
    tests = [k for k in files if k.startswith("test/")]
    assert len(tests) == split.counts()["test"]
    assert {k.split("/")[1] for k in tests} == {str(c) for c in range(10)}


@pytest.mark.parametrize("factor", [30.0])
def test_planted_outliers_keep_the_function_and_raise_the_ratio(factor):
    model = tiny_model("swin_t", img_size=64, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
    ratio_before = max(o.ratio for o in layernorm_outliers(model, x))
    changed = plant_outlier_channels(model, factor)
    assert changed == plantable(model) and len(changed) == 8  # norm1 and norm2 of 4 v1 blocks
    with torch.no_grad():
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    ratios = {o.layer: o.ratio for o in layernorm_outliers(model, x)}
    assert min(ratios[n] for n in changed) > 5 * ratio_before
