"""The flat layout with a labels file (ImageNet's official validation layout): both formats, the ImageSet it
gives, and every defect as one DataPathError naming the file and line, in bounded time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from swinprof.errors import DataPathError
from swinprof.evaluate import labels_file
from swinprof.evaluate.imagefolder import scan_images
from swinprof.evaluate.labels import imagenet_synsets
from swinprof.evaluate.labels_file import match_images, read_labels_file

SYN = imagenet_synsets()  # SYN[i] is class i


def flat_folder(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (24, 16), (len(name) * 9 % 256, 40, 90)).save(root / name)
    return root


def val_names(n: int) -> list[str]:
    return [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, n + 1)]


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ---------------------------------------------------------------------------------------------- the formats


def test_solution_csv_as_published(tmp_path):
    """ImageId without extension, synset then boxes (several of one class), a trailing space, CRLF, a BOM and rows
    out of order: each image gets the class of its synset."""
    root = flat_folder(tmp_path / "val", val_names(4))
    rows = [f"ILSVRC2012_val_00000003,{SYN[2]} 10 4 20 12 {SYN[2]} 1 1 5 5 ",
            f"ILSVRC2012_val_00000001,{SYN[0]} 0 0 9 9", f"ILSVRC2012_val_00000004,{SYN[999]} 3 3 7 7",
            f"ILSVRC2012_val_00000002,{SYN[0]}"]  # fmt: skip
    text = "\ufeffImageId,PredictionString\r\n" + "\r\n".join(rows) + "\r\n"
    labels = write(tmp_path / "LOC_val_solution.csv", text)
    assert read_labels_file(labels).format == "csv"
    images = scan_images(root, labels=labels)
    assert images.layout == "labels-file" and images.labeled
    assert dict(zip(images.ids, images.labels)) == dict(zip(val_names(4), [0, 0, 2, 999]))


@pytest.mark.parametrize("kind", ["synset", "index"])
def test_text_lines_with_synsets_or_indices(tmp_path, kind):
    root = flat_folder(tmp_path / "val", ["a.JPEG", "b.JPEG", "c d.png"])  # a name with a space
    label = (lambda i: SYN[i]) if kind == "synset" else str
    text = f"# labels\n\na.JPEG {label(7)}\nb {label(3)}\nc d.png\t{label(3)}\n"  # `b`: the name without extension
    images = scan_images(root, labels=write(tmp_path / "val.txt", text))
    assert dict(zip(images.ids, images.labels)) == {"a.JPEG": 7, "b.JPEG": 3, "c d.png": 3}


def test_limit_interleaves_classes_and_the_order_is_fixed(tmp_path):
    """Rows grouped by class and written in any order: a prefix still covers every class, and the ImageSet is
    the same whichever order the rows come in."""
    names = val_names(9)
    root = flat_folder(tmp_path / "val", names)
    lines = [f"{n} {SYN[i // 3]}" for i, n in enumerate(names)]  # 3 classes, 3 images each, grouped
    a = scan_images(root, labels=write(tmp_path / "a.txt", "\n".join(lines)), limit=3)
    b = scan_images(root, labels=write(tmp_path / "b.txt", "\n".join(reversed(lines))), limit=3)
    assert sorted(a.labels) == [0, 1, 2]
    assert (a.ids, a.labels) == (b.ids, b.labels)
    full = scan_images(root, labels=tmp_path / "a.txt")
    assert full.ids[:3] == a.ids and sorted(full.ids) == names and full.labels[:6] == [0, 1, 2, 0, 1, 2]


# ---------------------------------------------------------------------------------------------- the defects

CSV = "ImageId,PredictionString\n"
CASES = {
    # what the folder holds against what the file says
    "image-without-a-line": (["a.JPEG", "b.JPEG", "c.JPEG"], "a.JPEG 0\nb.JPEG 0\n", "1 image(s) in"),
    "line-without-an-image": (["a.JPEG"], "a.JPEG 0\nb.JPEG 1\n", "names 1 image(s) that are not in"),
    "duplicate-name": (["a.JPEG"], "a.JPEG 0\na.JPEG 0\n", "line 2 names 'a.JPEG' again (first on line 1)"),
    "same-image-twice": (["a.JPEG"], "a 0\na.JPEG 0\n", "lines 1 ('a') and 2 ('a.JPEG') both name a.JPEG"),
    "stem-matches-two": (["a.JPEG", "a.png"], "a 0\n", "line 1: 'a' matches 2 files"),
    # classes
    "unknown-synset": (["a.JPEG"], "a.JPEG n99999999\n", "line 1: synset n99999999 is not one of ImageNet-1k"),
    "index-out-of-range": (["a.JPEG", "b.JPEG"], "a.JPEG 5\nb.JPEG 1000\n", "line 2: class index 1000 is out of range"),
    "not-a-label": (["a.JPEG"], "a.JPEG cat\n", "neither an ImageNet synset"),
    "mixed-kinds": (["a.JPEG", "b.JPEG"], f"a.JPEG 3\nb.JPEG {SYN[3]}\n", f"line 2: label '{SYN[3]}' is a synset but"),
    # lines of the wrong shape
    "one-field": (["a.JPEG"], "a.JPEG\n", "line 1: expected `filename label`"),
    "devkit-ground-truth": (["a.JPEG"], "490\n", "devkit"),
    "csv-without-header": (["a.JPEG"], f"a,{SYN[0]}\n", "header ImageId,PredictionString"),
    "path-not-a-name": (["a.JPEG"], "sub/a.JPEG 0\n", "line 1: 'sub/a.JPEG' is not a file name"),
    "csv-three-fields": (["a.JPEG"], CSV + f"a,{SYN[0]},x\n", "line 2: expected ImageId,PredictionString (2 fields)"),
    "csv-empty-prediction": (["a.JPEG"], CSV + "a,\n", "PredictionString is empty"),
    "csv-two-classes": (["a.JPEG"], CSV + f"a,{SYN[0]} 1 1 2 2 {SYN[1]} 1 1 2 2\n", "names 2 classes"),
    "csv-box-short": (["a.JPEG"], CSV + f"a,{SYN[0]} 1 1 2\n", "4 box coordinates, per box"),
    "csv-box-not-numbers": (["a.JPEG"], CSV + f"a,{SYN[0]} 1 x 2 2\n", "coordinate 'x' is not a number"),
    "csv-header-only": (["a.JPEG"], CSV, "has a header but no rows"),
    "empty": (["a.JPEG"], "\n# nothing\n", "is empty"),
    # hostile content
    "binary": (["a.JPEG"], b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is binary, not a labels file"),
    "not-utf8": (["a.JPEG"], b"a.JPEG 0\n\xff\xfe 1\n", "line 2 is not UTF-8 text"),
    "giant-line": (["a.JPEG"], "a" * (labels_file.MAX_LINE_BYTES + 10), "line 1 is longer than 64 KiB"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_defect_is_one_line_naming_the_file(case, tmp_path):
    names, text, needle = CASES[case]
    root = flat_folder(tmp_path / "val", names)
    labels = write(tmp_path / "labels.txt", text)
    with pytest.raises(DataPathError) as info:
        scan_images(root, labels=labels)
    message = str(info.value)
    assert needle in message and "\n" not in message, message
    assert str(labels) in message or str(root) in message, message


def test_a_labels_file_with_class_folders_or_a_class_map_is_refused(tmp_path):
    root = tmp_path / "val"
    flat_folder(root / SYN[0], ["a.JPEG"])
    labels = write(tmp_path / "val.txt", "a.JPEG 0\n")
    with pytest.raises(DataPathError, match=r"has class folders .* drop --labels"):
        scan_images(root, labels=labels)
    cmap = write(tmp_path / "classes.json", json.dumps({SYN[0]: 0}))
    with pytest.raises(DataPathError, match=r"--labels\) or a class map \(--class-map\), not both"):
        scan_images(root, cmap, labels=labels)


def test_missing_or_oversized_labels_files(tmp_path):
    root = flat_folder(tmp_path / "val", ["a.JPEG"])
    with pytest.raises(DataPathError, match="does not exist"):
        scan_images(root, labels=tmp_path / "nope.csv")
    with pytest.raises(DataPathError, match="is a folder"):
        scan_images(root, labels=root)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:  # sparse: 100 MiB that take no disk
        f.truncate(100 * 2**20)
    start = time.process_time()
    with pytest.raises(DataPathError, match="100 MiB, over the 64 MiB"):
        scan_images(root, labels=huge)
    assert time.process_time() - start < 1.0


def test_the_number_of_entries_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(labels_file, "MAX_ENTRIES", 3)
    labels = write(tmp_path / "val.txt", "".join(f"{n} 0\n" for n in val_names(4)))
    with pytest.raises(DataPathError, match="names more than 3 images: split the data set"):
        read_labels_file(labels)


def test_a_full_validation_solution_file_reads_in_bounded_time(tmp_path):
    """50,000 rows in the published shape (~2.3 MB), read and matched against 50,000 names, in a few CPU seconds
    (the files themselves are not made: matching takes the folder's listing)."""
    names = val_names(50_000)
    rows = "".join(f"{n[:-5]},{SYN[i % 1000]} 12 30 400 300 {SYN[i % 1000]} 1 2 3 4\n" for i, n in enumerate(names))
    labels = write(tmp_path / "LOC_val_solution.csv", CSV + rows)
    start = time.process_time()
    parsed = read_labels_file(labels)
    pairs = match_images(parsed, [tmp_path / n for n in names], tmp_path)
    assert time.process_time() - start < 10.0
    assert len(pairs) == 50_000 and pairs[1234][1] == 234


@settings(max_examples=100, deadline=5000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.lists(st.sampled_from(["a.JPEG 0", "b 1", CSV.strip(), f"a,{SYN[0]} 1 2 3 4", "a.JPEG n0144",
                                           "", "#", "x,y,z", " ", "\t0"]), max_size=8).map(
                     lambda ls: "\n".join(ls).encode())))  # fmt: skip
def test_any_bytes_give_labels_or_one_data_path_error(tmp_path, data):
    labels = write(tmp_path / "fuzz.txt", data)
    try:
        parsed = read_labels_file(labels)
    except DataPathError as exc:
        assert "\n" not in str(exc)
    else:
        assert parsed.entries and all(0 <= label < 1000 for label, _ in parsed.entries.values())
