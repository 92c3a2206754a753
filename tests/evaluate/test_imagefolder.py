"""ImageFolder scanning and accuracy on a synthetic folder of solid-colour images written by the test."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from swinprof.errors import DataPathError
from swinprof.evaluate.imagefolder import accuracy_of, iter_batches, load_class_map, scan_images
from swinprof.models.preprocess import build_transform

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}


def write_folder(root, per_class: int = 3, names=None, size=(80, 60)):
    """`root/<class>/<i>.png`: solid colours, so the class is recoverable from the pixels."""
    names = names or {c: c for c in COLOURS}
    for colour, folder in names.items():
        (root / folder).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, COLOURS[colour]).save(root / folder / f"{i}.png")
    return root


def channel_model(x: torch.Tensor) -> torch.Tensor:
    """Logits = mean of each colour channel, padded to 6 classes: predicts red=0, green=1, blue=2."""
    means = x.mean(dim=(2, 3))
    return torch.cat([means, torch.full((x.shape[0], 3), -10.0)], dim=1)


def test_accuracy_with_a_json_class_map(tmp_path):
    root = write_folder(tmp_path / "data")
    cmap = tmp_path / "classes.json"
    cmap.write_text(json.dumps({"red": 0, "green": 1, "blue": 2}))
    images = scan_images(root, cmap)
    assert images.layout == "class-map" and len(images) == 9
    wrong = lambda x: channel_model(x)[:, [1, 2, 0, 3, 4, 5]]  # noqa: E731 - always wrong, right class 2nd/3rd
    acc = accuracy_of({"right": channel_model, "wrong": wrong}, images, build_transform(32), batch_size=4)
    assert (acc["right"].acc1, acc["right"].acc5, acc["right"].samples) == (100.0, 100.0, 9)
    assert acc["wrong"].acc1 == 0.0 and acc["wrong"].acc5 == 100.0


def test_text_class_map_and_limit_interleaves_classes(tmp_path):
    root = write_folder(tmp_path / "data", per_class=4)
    cmap = tmp_path / "classes.txt"
    cmap.write_text("red 0\ngreen 1\nblue 2\n")
    assert load_class_map(cmap) == {"red": 0, "green": 1, "blue": 2}
    images = scan_images(root, cmap, limit=3)
    assert sorted(images.labels) == [0, 1, 2]  # one per class, not three reds


def test_synset_folders_map_to_imagenet_indices(tmp_path):
    root = write_folder(tmp_path / "val", names={"red": "n01440764", "green": "n01443537"}, per_class=1)
    images = scan_images(root)
    assert images.layout == "imagenet-synsets"
    assert sorted(images.labels) == [0, 1]  # tench, goldfish


def test_other_folder_names_need_a_class_map(tmp_path):
    root = write_folder(tmp_path / "data", per_class=1)
    with pytest.raises(DataPathError, match=r"not ImageNet synset ids.*--class-map"):
        scan_images(root)


def test_flat_folder_is_unlabeled(tmp_path):
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 50, 0, 0)).save(tmp_path / f"{i}.jpg")
    images = scan_images(tmp_path)
    assert images.layout == "unlabeled" and not images.labeled
    (x, y), *_ = iter_batches(images, build_transform(32), batch_size=8)
    assert x.shape == (3, 3, 32, 32) and y is None
    with pytest.raises(DataPathError, match="accuracy needs an ImageFolder"):
        accuracy_of({"m": channel_model}, images, build_transform(32))


def test_missing_folder_and_missing_class(tmp_path):
    with pytest.raises(DataPathError, match="does not exist"):
        scan_images(tmp_path / "nope")
    root = write_folder(tmp_path / "data", per_class=1)
    cmap = tmp_path / "c.json"
    cmap.write_text(json.dumps(["red", "green"]))
    with pytest.raises(DataPathError, match="blue are not in the class map"):
        scan_images(root, cmap)
