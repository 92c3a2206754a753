from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from swinprof.errors import DataPathError
from swinprof.evaluate.labels import imagenet_class_names, imagenet_synsets
from swinprof.models import get_variant
from swinprof.models.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    build_transform,
    center_crop,
    load_image,
    resize_shorter_side,
)


def test_swin_s_pipeline_is_resize_248_crop_224():
    t = build_transform(get_variant("swin_s"))
    assert (t.resize_size, t.img_size) == (248, 224)
    assert t.describe()[0] == "Resize(248, interpolation=bicubic)"
    assert build_transform(get_variant("swin_b_384")).resize_size == 384  # crop_pct 1.0
    assert build_transform(get_variant("swinv2_t_w8")).resize_size == 284
    assert build_transform(320).resize_size == 355


def test_resize_keeps_aspect_and_truncates_like_torchvision():
    assert resize_shorter_side(Image.new("RGB", (500, 375)), 248).size == (330, 248)
    assert resize_shorter_side(Image.new("RGB", (300, 400)), 248).size == (248, 330)


def test_center_crop_takes_the_middle():
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[3:7, 8:12] = 255
    crop = np.asarray(center_crop(Image.fromarray(arr), 4))
    assert crop.min() == 255


def test_normalised_output_shape_and_values():
    mean_rgb = tuple(round(m * 255) for m in IMAGENET_MEAN)
    x = EvalTransform(224)(Image.new("RGB", (640, 480), mean_rgb))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert x.abs().max() < 0.01  # the mean colour normalises to ~0
    white = EvalTransform(224)(Image.new("RGB", (300, 300), (255, 255, 255)))
    expected = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.allclose(white[:, 100, 100], expected, atol=1e-5)


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    Image.new("L", (256, 256), 128).save(tmp_path / "g.png")
    Image.new("RGBA", (256, 300), (10, 20, 30, 40)).save(tmp_path / "a.png")
    for name in ("g.png", "a.png"):
        assert EvalTransform(224)(load_image(tmp_path / name)).shape == (3, 224, 224)


def test_bad_images_are_clear_errors(tmp_path):
    with pytest.raises(DataPathError, match="does not exist"):
        load_image(tmp_path / "absent.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataPathError, match="not a readable image"):
        load_image(tmp_path / "bad.jpg")


def test_imagenet_labels():
    synsets, names = imagenet_synsets(), imagenet_class_names()
    assert len(synsets) == len(set(synsets)) == len(names) == 1000
    assert synsets == sorted(synsets) and synsets[0] == "n01440764"
    assert names[:2] == ["tench", "goldfish"] and names[281] == "tabby"


def test_one_policy_for_predict_run_and_profile_off_the_native_resolution():
    """swin_b_384 at 224: predict resized to 224, run to 248 and profile printed crop_pct 1.0. Now one policy."""
    from swinprof.profile.info import preprocessing_table

    variant = get_variant("swin_b_384")
    t = build_transform(variant, 224)
    assert (t.img_size, t.crop_pct, t.resize_size) == (224, 1.0, 224)
    assert "shorter side to 224 (bicubic), crop_pct=1.0" in preprocessing_table(t).loc[0, "parameters"]
