"""The synthetic ImageNet-like set: its plan (shapes, JPEG settings, balanced labels), images that decode like
photos, byte-identical output per seed, labels that `scan_images` reads back, and a folder written as one unit."""

from __future__ import annotations

import errno
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from swinprof.errors import DataPathError, InvalidOptionError, ResourceError
from swinprof.evaluate import synthetic
from swinprof.evaluate.imagefolder import scan_images
from swinprof.evaluate.synthetic import LABEL_FORMATS, plan_images, render_jpeg, write_image_set


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_plan_follows_the_shape_and_compression_mix():
    """2,000 planned images (no pixels): each common shape near its share, the rest of bounded size and aspect,
    mostly quality 96 without chroma subsampling."""
    specs = plan_images(2000, 1000, seed=0)
    shapes = Counter((s.width, s.height) for s in specs)
    for width, height, share in synthetic.SHAPE_MIX:
        assert abs(shapes[width, height] / 2000 - share) < 0.03, (width, height)
    assert all(max(s.width, s.height) <= 2048 and max(s.width, s.height) <= 2 * min(s.width, s.height) + 1
               for s in specs)  # fmt: skip
    assert sum(max(s.width, s.height) == 500 for s in specs) > 0.8 * 2000
    assert 0.75 < sum(s.quality == 96 and s.subsampling == 0 and not s.grayscale for s in specs) / 2000 < 0.9
    assert [s.number for s in specs] == list(range(1, 2001))


def test_labels_are_balanced_and_a_plan_is_a_prefix_of_a_longer_one():
    specs = plan_images(50, 10, seed=3)
    assert set(Counter(s.label for s in specs).values()) == {5}  # 10 classes, 5 images each
    assert plan_images(23, 10, seed=3) == specs[:23]
    assert plan_images(50, 10, seed=4) != specs


def test_images_decode_like_photos_at_their_planned_settings():
    """Right size, mode and chroma subsampling; not flat and not white noise (neighbouring pixels correlate, as
    in photos); the file size of a 500x375 image in the range real ones have."""
    specs = [s for s in plan_images(40, 1000, seed=0) if (s.width, s.height) == (500, 375)][:3]
    specs += [s for s in plan_images(200, 1000, seed=0) if s.grayscale or s.subsampling == 2][:2]
    for spec in specs:
        data = render_jpeg(spec, seed=0)
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size) == ("JPEG", (spec.width, spec.height))
        assert image.mode == ("L" if spec.grayscale else "RGB")
        if not spec.grayscale:
            assert JpegImagePlugin.get_sampling(image) == spec.subsampling
        luma = np.asarray(image.convert("L"), dtype=np.float64)
        assert luma.std() > 20  # not flat
        right = np.corrcoef(luma[:, :-1].ravel(), luma[:, 1:].ravel())[0, 1]
        assert right > 0.8  # white noise would give ~0
        if (spec.width, spec.height) == (500, 375) and spec.quality == 96:
            assert 30_000 < len(data) < 400_000


def test_same_seed_same_bytes_other_seed_other_bytes():
    spec = plan_images(1, 1000, seed=0)[0]
    assert render_jpeg(spec, 0) == render_jpeg(spec, 0) != render_jpeg(spec, 1)


@pytest.mark.parametrize("labels_format", list(LABEL_FORMATS))
def test_flat_layout_round_trips_through_scan_images(tmp_path, labels_format):
    written = write_image_set(tmp_path / "set", 6, "flat", labels_format, classes=3, seed=1)
    assert written.labels == tmp_path / "set" / LABEL_FORMATS[labels_format] and written.labels.is_file()
    images = scan_images(written.images, labels=written.labels)
    expected = {s.name: s.label for s in written.specs}
    assert images.layout == "labels-file" and dict(zip(images.ids, images.labels)) == expected
    assert sorted(images.labels[:3]) == sorted({s.label for s in written.specs})  # 3 classes, interleaved
    assert [p.stat().st_size for p in sorted(written.images.iterdir())] == list(written.sizes)


def test_synset_folders_round_trip_and_the_record_describes_the_set(tmp_path):
    written = write_image_set(tmp_path / "set", 5, "synsets", None, classes=2, seed=2)
    images = scan_images(written.images)
    assert images.layout == "imagenet-synsets"
    assert sorted(zip((i.rsplit("/")[-1] for i in images.ids), images.labels)) == sorted(
        (s.name, s.label) for s in written.specs)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["make_images.json", "make_images.md", "val"]
    record = (tmp_path / "set" / "make_images.md").read_text()
    assert "5 ImageNet-like JPEGs (seed 2)" in record and str(tmp_path) not in record  # no absolute paths


def test_one_seed_writes_byte_identical_folders(tmp_path):
    a = tree(write_image_set(tmp_path / "a", 4, "flat", "csv", classes=4, seed=7).root)
    b = tree(write_image_set(tmp_path / "b", 4, "flat", "csv", classes=4, seed=7).root)
    c = tree(write_image_set(tmp_path / "c", 4, "flat", "csv", classes=4, seed=8).root)
    assert a == b and set(a) == set(c) and a != c


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"count": 0}, InvalidOptionError, "count must be between 1 and 200,000"),
        ({"count": synthetic.MAX_COUNT + 1}, InvalidOptionError, "count must be"),
        ({"classes": 1001}, InvalidOptionError, "classes must be between 1 and 1000"),
        ({"layout": "tree"}, InvalidOptionError, "unknown layout 'tree'"),
        ({"layout": "synsets", "labels_format": "csv"}, InvalidOptionError, "flat layout only"),
        ({"layout": "flat", "labels_format": "xml"}, InvalidOptionError, "unknown labels format 'xml'"),
    ],
)
def test_bad_requests_are_refused_before_any_work(tmp_path, kwargs, error, needle):
    request = {"count": 2, "layout": "flat", "labels_format": "csv", **kwargs}
    with pytest.raises(error, match=needle):
        write_image_set(tmp_path / "set", **request)
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_target_or_a_full_disk_is_refused(tmp_path, monkeypatch):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("keep")
    with pytest.raises(DataPathError, match="not empty: give a new or empty folder"):
        write_image_set(tmp_path / "used", 2)
    assert (tmp_path / "used" / "x.txt").read_text() == "keep"
    monkeypatch.setattr(synthetic, "ESTIMATED_MEAN_BYTES", 10**18)  # more than any disk: the real free space check
    with pytest.raises(ResourceError, match="GB free: use a smaller --count or another disk"):
        write_image_set(tmp_path / "new", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]


def test_an_empty_target_folder_is_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    written = write_image_set(tmp_path / "empty", 2, seed=0)
    assert len(list(written.images.rglob("*.JPEG"))) == 2


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")],
                         ids=["ctrl-c", "disk-full"])  # fmt: skip
def test_an_interrupted_or_failed_write_leaves_nothing(tmp_path, failure):
    def fail_after_two(n: int) -> None:
        if n == 2:
            raise failure

    target = tmp_path / "new" / "deeper" / "set"
    with pytest.raises(type(failure) if isinstance(failure, KeyboardInterrupt) else DataPathError):
        write_image_set(target, 5, on_image=fail_after_two)
    assert list(tmp_path.iterdir()) == []  # no staging folder, and the parents made for it are gone
