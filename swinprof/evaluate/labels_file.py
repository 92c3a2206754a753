"""Labels files: the classes of a flat folder of images, the way ImageNet's validation set ships (one folder of
50,000 JPEGs plus one file naming each image's class).

Two formats, told apart by their first line (the file's name does not matter):
- CSV with the header `ImageId,PredictionString`: the public ImageNet localization solution file
  (`LOC_val_solution.csv`). ImageId is the image's file name without its extension (`ILSVRC2012_val_00000001`);
  PredictionString is the synset followed by 4 box coordinates (x_min y_min x_max y_max), repeated per box:
  `n01751748 156 48 272 332 n01751748 42 9 322 285`. Every box of an image names the same class, so a file whose
  rows name two classes (a submission, not the solution) is refused.
- Text, `filename label` per line (Caffe's `val.txt`: `ILSVRC2012_val_00000001.JPEG 65`). The label is a synset
  (`n01440764`) or an ImageNet-1k class index 0-999 in the standard order (sorted synsets: the order of timm,
  torchvision and Caffe's val.txt), one kind per file. Blank lines and `#` comments are skipped.
In both, a name matches the file of that exact name, or else the one file whose name without extension it is.

Labels are ImageNet-1k classes: a data set with other classes uses class folders and a class map. Reading is
bounded (file size, line length, number of entries), so a wrong or hostile file is refused cheaply.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from swinprof.errors import DataPathError
from swinprof.evaluate.labels import IMAGENET_CLASSES, SYNSET_RE, imagenet_synset_index

MAX_LABELS_BYTES = 64 * 2**20  # ImageNet's LOC_val_solution.csv is a few MB
MAX_LINE_BYTES = 64 * 2**10  # a row with a hundred boxes is ~3 KB
MAX_ENTRIES = 1_000_000  # 20x the validation set; bounds the memory a file can take (~200 MB)
CSV_HEADER = "ImageId,PredictionString"
BOX = 5  # synset x_min y_min x_max y_max
KIND_NAMES = {"synset": "a synset", "index": "a class index"}


@dataclass(frozen=True)
class LabelsFile:
    """A parsed labels file: each image name as written -> (class index, line number)."""

    path: Path
    format: str  # "csv" | "text"
    entries: dict[str, tuple[int, int]]


def read_labels_file(path: str | os.PathLike) -> LabelsFile:
    """Parse a labels file (CSV or text, see the module); any defect is one DataPathError naming the line."""
    path = Path(path)
    _check_file(path)
    where = f"labels file {str(path)!r}"
    with path.open("rb") as f:
        if b"\0" in f.read(8192):
            raise DataPathError(f"{where} is binary, not a labels file: give the CSV (ImageId,PredictionString) "
                                "or text (`filename label` lines) file")  # fmt: skip
        f.seek(0)
        lines = _lines(f, where)
        first = next(lines, None)
        if first is None:
            raise DataPathError(f"{where} is empty: it must name every image of the data folder")
        is_csv = first[1].replace(" ", "").lower() == CSV_HEADER.lower()
        parse = _csv_row if is_csv else _text_row
        kinds: list[str] = []  # the kind of label the file uses (synset or index), set by its first row
        entries: dict[str, tuple[int, int]] = {}
        for number, text in lines if is_csv else itertools.chain([first], lines):
            at = f"{where} line {number}"
            name, token = parse(text, at)
            _check_name(name, at)
            if name in entries:
                raise DataPathError(f"{at} names {name!r} again (first on line {entries[name][1]}): give each "
                                    "image one line")  # fmt: skip
            if len(entries) == MAX_ENTRIES:
                raise DataPathError(f"{where} names more than {MAX_ENTRIES:,} images: split the data set")
            entries[name] = (_class_index(token, kinds, at), number)
    if not entries:
        raise DataPathError(f"{where} has a header but no rows: it must name every image of the data folder")
    return LabelsFile(path, "csv" if is_csv else "text", entries)


def match_images(labels: LabelsFile, files: Sequence[Path], root: Path) -> list[tuple[Path, int]]:
    """Pair each image of `files` (the images directly in `root`) with its class index, in `files`' order.
    Every image needs exactly one line and every line exactly one image; otherwise one DataPathError."""
    by_name = {p.name: p for p in files}
    by_stem: dict[str, list[Path]] = {}
    for p in files:
        by_stem.setdefault(p.stem, []).append(p)
    where = f"labels file {str(labels.path)!r}"
    owner: dict[Path, tuple[int, str, int]] = {}  # image -> (class, name as written, line)
    missing: list[tuple[int, str]] = []
    for name, (label, line) in labels.entries.items():
        found = [by_name[name]] if name in by_name else by_stem.get(name, [])
        if len(found) > 1:
            shown = ", ".join(p.name for p in found[:3])
            raise DataPathError(f"{where} line {line}: {name!r} matches {len(found)} files in {str(root)!r} "
                                f"({shown}): keep one, or name it with its extension")  # fmt: skip
        if not found:
            missing.append((line, name))
        elif found[0] in owner:
            first = owner[found[0]]
            raise DataPathError(f"{where} lines {first[2]} ({first[1]!r}) and {line} ({name!r}) both name "
                                f"{found[0].name}: give each image one line")  # fmt: skip
        else:
            owner[found[0]] = (label, name, line)
    if missing:
        line, name = min(missing)
        raise DataPathError(f"{where} names {len(missing)} image(s) that are not in {str(root)!r} (first: {name!r} "
                            f"on line {line}): restore them, or remove their lines")  # fmt: skip
    unlabeled = [p for p in files if p not in owner]
    if unlabeled:
        raise DataPathError(f"{len(unlabeled)} image(s) in {str(root)!r} have no line in {where} (first: "
                            f"{unlabeled[0].name}): add their labels, or move them out of the folder")  # fmt: skip
    return [(p, owner[p][0]) for p in files]


def _check_file(path: Path) -> None:
    if not path.is_file():
        kind = "is a folder" if path.is_dir() else "does not exist"
        raise DataPathError(f"labels file {str(path)!r} {kind}: give the path of the labels file (--labels)")
    size = path.stat().st_size
    if size > MAX_LABELS_BYTES:
        raise DataPathError(f"labels file {str(path)!r} is {size / 2**20:.0f} MiB, over the {MAX_LABELS_BYTES // 2**20}"
                            " MiB a labels file can be: not a labels file")  # fmt: skip


def _lines(f: BinaryIO, where: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of every non-blank, non-comment line; a line is read at most MAX_LINE_BYTES
    at a time, so one giant line costs no more than that."""
    for number in itertools.count(1):
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            raise DataPathError(f"{where} line {number} is longer than {MAX_LINE_BYTES // 1024} KiB: not a labels file")
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise DataPathError(f"{where} line {number} is not UTF-8 text: not a labels file") from None
        text = text.removeprefix("\ufeff").strip() if number == 1 else text  # a byte-order mark from Excel
        if text and not text.startswith("#"):
            yield number, text


def _csv_row(text: str, at: str) -> tuple[str, str]:
    """`ImageId,PredictionString` -> (ImageId, the class token), the boxes checked."""
    fields = next(csv.reader([text]))
    if len(fields) != 2:
        raise DataPathError(f"{at}: expected {CSV_HEADER} (2 fields), got {len(fields)}")
    name, tokens = fields[0].strip(), fields[1].split()
    if not tokens:
        raise DataPathError(f"{at}: PredictionString is empty: it must start with the image's synset")
    if len(tokens) > 1:
        if len(tokens) % BOX:
            raise DataPathError(f"{at}: PredictionString must be the synset then 4 box coordinates, per box "
                                f"(n01751748 156 48 272 332 ...), got {len(tokens)} values")  # fmt: skip
        classes = list(dict.fromkeys(tokens[::BOX]))
        if len(classes) > 1:
            raise DataPathError(f"{at}: PredictionString names {len(classes)} classes ({', '.join(classes[:3])}): "
                                "a ground-truth file (LOC_val_solution.csv) has one class per image")  # fmt: skip
        coordinate = next((t for i, t in enumerate(tokens) if i % BOX and not _is_number(t)), None)
        if coordinate is not None:
            raise DataPathError(f"{at}: box coordinate {coordinate[:20]!r} is not a number")
    return name, tokens[0]


def _text_row(text: str, at: str) -> tuple[str, str]:
    """`filename label` -> (filename, label); the name may hold spaces (the label is the last field)."""
    parts = text.rsplit(None, 1)
    if len(parts) != 2:
        hint = ""
        if text.isdigit():
            hint = (" (the devkit's ILSVRC2012_validation_ground_truth.txt names no files and numbers classes in "
                    "another order: use LOC_val_solution.csv or `filename synset` lines)")  # fmt: skip
        elif "," in text:
            hint = f" (a CSV labels file starts with the header {CSV_HEADER})"
        raise DataPathError(f"{at}: expected `filename label`, got {text[:60]!r}{hint}")
    return parts[0], parts[1]


def _check_name(name: str, at: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or any(ord(c) < 32 for c in name):
        raise DataPathError(f"{at}: {name[:60]!r} is not a file name (a labels file names the images directly in "
                            "the data folder, without folders)")  # fmt: skip


def _class_index(token: str, kinds: list[str], at: str) -> int:
    """A synset or a class index 0-999 -> the ImageNet-1k class index; every row of a file uses one kind."""
    kind = "synset" if SYNSET_RE.match(token) else "index" if token.isascii() and token.isdigit() else None
    if kind is None:
        raise DataPathError(f"{at}: label {token[:30]!r} is neither an ImageNet synset (n01440764) nor a class "
                            f"index 0-{IMAGENET_CLASSES - 1}")  # fmt: skip
    if not kinds:
        kinds.append(kind)
    elif kinds[0] != kind:
        raise DataPathError(f"{at}: label {token!r} is {KIND_NAMES[kind]} but the first label is "
                            f"{KIND_NAMES[kinds[0]]}: use one kind of label per file")  # fmt: skip
    if kind == "synset":
        index = imagenet_synset_index().get(token)
        if index is None:
            raise DataPathError(f"{at}: synset {token} is not one of ImageNet-1k's {IMAGENET_CLASSES} classes")
        return index
    if len(token) > 12 or int(token) >= IMAGENET_CLASSES:
        raise DataPathError(f"{at}: class index {token[:12]} is out of range 0-{IMAGENET_CLASSES - 1} (ImageNet-1k)")
    return int(token)


def _is_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False
