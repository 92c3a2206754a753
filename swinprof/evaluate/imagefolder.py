"""Image folders for evaluation and calibration, and top-1/top-5 accuracy over them.

Layouts understood:
- ImageFolder with ImageNet synset folder names (`val/n01440764/*.JPEG`): labels are the synset's class index.
- ImageFolder with any other folder names: needs a class map file (`--class-map`): JSON `{"folder": index}` or
  a JSON list of folder names (index = position), or text with `folder index` per line or one folder per line.
- A flat folder of images plus a labels file (`--labels`), the layout ImageNet's validation set ships in: the
  `ImageId,PredictionString` CSV (LOC_val_solution.csv) or `filename label` lines (`evaluate.labels_file`).
- A flat folder of images (e.g. `calib/`) without one: unlabeled; used for calibration and fidelity, no accuracy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from swinprof.errors import DataPathError
from swinprof.evaluate.labels import SYNSET_RE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}
# A class map names a few thousand folders at most; a larger file is not one (and would be read whole).
MAX_CLASS_MAP_BYTES = 16 * 2**20


@dataclass
class ImageSet:
    """Image paths with their class indices (`labels` is None for an unlabeled folder)."""

    root: Path
    paths: list[Path]
    labels: list[int] | None
    layout: str  # "imagenet-synsets" | "class-map" | "labels-file" | "unlabeled"

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labeled(self) -> bool:
        return self.labels is not None

    @property
    def ids(self) -> list[str]:
        """Each image's identity: its path relative to the data root, `/`-separated, so results from two runs (or
        two ranks, or two machines with the data set in other places) pair by image, not by position."""
        return [p.relative_to(self.root).as_posix() for p in self.paths]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_class_map(path: str | os.PathLike) -> dict[str, int]:
    """Folder name -> class index from a JSON or text class-map file."""
    path = Path(path)
    if not path.is_file():
        raise DataPathError(f"class map file {str(path)!r} does not exist")
    if path.stat().st_size > MAX_CLASS_MAP_BYTES:
        raise DataPathError(
            f"class map {str(path)!r} is larger than {MAX_CLASS_MAP_BYTES // 2**20} MiB: not a class map"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataPathError(f"class map {str(path)!r} is not UTF-8 text ({exc.reason})") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise DataPathError(f"class map {str(path)!r} is not valid JSON ({reason})") from exc
        if isinstance(data, list):
            return {str(name): i for i, name in enumerate(data)}
        if isinstance(data, dict) and all(_is_index(v) for v in data.values()):
            return {str(k): v for k, v in data.items()}
        raise DataPathError(
            f"class map {str(path)!r} must be a JSON object {{folder: index >= 0}} or a list of folders"
        )
    mapping: dict[str, int] = {}
    for i, line in enumerate(ln.strip() for ln in text.splitlines() if ln.strip()):
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            if int(parts[1]) < 0:
                raise DataPathError(f"class map {str(path)!r} line {i + 1}: class index must be >= 0, got {parts[1]}")
            mapping[parts[0]] = int(parts[1])
        else:
            mapping[line] = i
    return mapping


def _synset_map() -> dict[str, int]:
    from swinprof.evaluate.labels import imagenet_synset_index

    return dict(imagenet_synset_index())


def _interleave(per_class: list[list[Path]], labels: list[int]) -> tuple[list[Path], list[int]]:
    """Round-robin over classes so that a `--limit` prefix covers as many classes as possible."""
    paths, out_labels = [], []
    depth = max((len(p) for p in per_class), default=0)
    for i in range(depth):
        for files, label in zip(per_class, labels):
            if i < len(files):
                paths.append(files[i])
                out_labels.append(label)
    return paths, out_labels


def scan_images(root: str | os.PathLike, class_map: str | os.PathLike | None = None, limit: int | None = None,
                labels: str | os.PathLike | None = None) -> ImageSet:  # fmt: skip
    """Find the images under `root` and their labels (from class folders, or from the `labels` file of a flat
    folder); `limit` keeps the first N (classes interleaved). Sorted by name within a class, so the order is the
    same on every machine."""
    root = Path(root)
    if not root.is_dir():
        raise DataPathError(f"data folder {str(root)!r} does not exist or is not a folder")
    if labels is not None:
        return _checked(_scan_labels_file(root, labels, class_map, limit))
    given = load_class_map(class_map) if class_map is not None else None  # a bad map fails whatever the folder
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _images_in(d))
    if not class_dirs:
        if given is not None:
            raise DataPathError(f"--class-map names class folders but {str(root)!r} has none (images directly in it)")
        paths = _images_in(root)
        if not paths:
            raise DataPathError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {str(root)!r}")
        return _checked(ImageSet(root, paths[:limit] if limit else paths, None, "unlabeled"))
    names = [d.name for d in class_dirs]
    if given is not None:
        mapping, layout = given, "class-map"
    elif all(SYNSET_RE.match(n) for n in names):
        mapping, layout = _synset_map(), "imagenet-synsets"
    else:
        raise DataPathError(
            f"the class folders of {str(root)!r} ({', '.join(names[:3])}, ...) are not ImageNet synset ids "
            "(n01440764, ...): pass --class-map FILE mapping each folder name to its class index"
        )
    missing = [n for n in names if n not in mapping]
    if missing:
        raise DataPathError(f"class folder(s) {', '.join(missing[:5])} are not in the class map ({layout})")
    paths, labels = _interleave([_images_in(d) for d in class_dirs], [mapping[n] for n in names])
    if limit:
        paths, labels = paths[:limit], labels[:limit]
    return _checked(ImageSet(root, paths, labels, layout))


def _scan_labels_file(root: Path, labels: str | os.PathLike, class_map: str | os.PathLike | None,
                      limit: int | None) -> ImageSet:  # fmt: skip
    """A flat folder whose images a labels file names (`evaluate.labels_file`), classes interleaved."""
    from swinprof.evaluate.labels_file import match_images, read_labels_file

    if class_map is not None:
        raise DataPathError("give a labels file (--labels) or a class map (--class-map), not both: a labels file "
                            "names ImageNet classes itself; a class map goes with class folders")  # fmt: skip
    parsed = read_labels_file(labels)  # a bad file fails whatever the folder
    class_dirs = sorted(d.name for d in root.iterdir() if d.is_dir() and _images_in(d))
    if class_dirs:
        raise DataPathError(f"{str(root)!r} has class folders ({', '.join(class_dirs[:3])}, ...) and a labels file "
                            "was given: a labels file goes with a flat folder of images; drop --labels to read "
                            "the folders")  # fmt: skip
    files = _images_in(root)
    if not files:
        raise DataPathError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {str(root)!r}")
    per_class: dict[int, list[Path]] = {}
    for path, label in match_images(parsed, files, root):
        per_class.setdefault(label, []).append(path)
    classes = sorted(per_class)
    paths, out_labels = _interleave([per_class[c] for c in classes], classes)
    if limit:
        paths, out_labels = paths[:limit], out_labels[:limit]
    return ImageSet(root, paths, out_labels, "labels-file")


def scan_unlabeled(root: str | os.PathLike, limit: int | None = None) -> ImageSet:
    """The images under `root`, flat or in class folders (interleaved, so the first N cover every class), labels
    ignored: calibration data needs no class map."""
    root = Path(root)
    if not root.is_dir():
        raise DataPathError(f"data folder {str(root)!r} does not exist or is not a folder")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _images_in(d))
    if class_dirs:
        paths, _ = _interleave([_images_in(d) for d in class_dirs], list(range(len(class_dirs))))
    else:
        paths = _images_in(root)
    if not paths:
        raise DataPathError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {str(root)!r}")
    return _checked(ImageSet(root, paths[:limit] if limit else paths, None, "unlabeled"))


def _checked(images: ImageSet) -> ImageSet:
    """Read every selected image's header (no pixels) now, so an unreadable or bomb-sized one is refused before
    any model is built rather than minutes into the run."""
    from swinprof.models.preprocess import check_image

    for path in images.paths:
        check_image(path)
    return images


def iter_batches(
    images: ImageSet, transform: Callable, batch_size: int, count: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Batches `(B, 3, H, W)` of transformed images with `(B,)` labels (None if unlabeled), decoded in this
    process, the last one short (calibration and probes; a whole evaluation streams through `evaluate.pipeline`)."""
    from swinprof.evaluate.pipeline import BatchedImages, stream

    data = BatchedImages(images, transform, batch_size, count, pad=False)
    for batch in stream(data, range(len(data)), workers=0):
        yield batch.x, batch.labels


@dataclass(frozen=True)
class Accuracy:
    samples: int
    acc1: float  # percent
    acc5: float  # percent
    # per image, in ImageSet order: the top-1 class, the label and the image's id (`ImageSet.ids`); paired tests
    # (`evaluate.recipe_accuracy`, `track.accuracy_drop`) pair by id
    predictions: tuple[int, ...] = field(default=(), repr=False)
    labels: tuple[int, ...] = field(default=(), repr=False)
    ids: tuple[str, ...] = field(default=(), repr=False)


def accuracy_of(
    models: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    images: ImageSet,
    transform: Callable,
    batch_size: int = 16,
    workers: int = 0,
) -> dict[str, Accuracy]:
    """Top-1/top-5 accuracy (percent) of every model over `images`, each image decoded once for all models, in
    `workers` data-loader processes (0: in this one). The pass itself is `evaluate.evaluation.evaluate`."""
    from swinprof.evaluate.evaluation import evaluate

    if not images.labeled:
        raise DataPathError(f"{str(images.root)!r} has no class folders: accuracy needs an ImageFolder layout")
    return evaluate(models, images, transform, batch_size, workers=workers).accuracy()
