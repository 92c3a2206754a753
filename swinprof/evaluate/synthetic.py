"""Seeded ImageNet-like JPEGs, so tests and benchmarks of the data pipeline pay a realistic decode cost offline.

What "ImageNet-like" means here, image by image (each drawn from its own seeded generator, so image i is the same
whatever `count` is, and the same seed gives byte-identical files with the same Pillow and libjpeg):
- shape: the validation set's long side is 500 px for most images, in a few aspect ratios (`SHAPE_MIX`, an
  approximation: 500x375 the most common, then 375x500, 500x333, 500x500, 333x500), the rest spread over other
  ratios and sizes, a few larger than 1000 px (`_other_shape`);
- compression: JPEG quality 96 without chroma subsampling (4:4:4) for most images, as surveys of ImageNet's JPEGs
  report, a minority at lower quality with 4:2:0, a few grayscale (`COMPRESSION`);
- content: a smooth random colour field with flat-coloured shapes (edges), textured by noise at several scales
  (a rough 1/f spectrum) and fine grain, at a seeded per-image level of detail; tuned so that the mean file
  size (~128 KB) matches the validation set's (50,000 files, ~6.4 GB) and sizes spread from a few KB to a few
  MB, so decoding costs what it costs there. It is not meant to be classified: labels are assigned, balanced
  over the chosen classes.

Layouts: `val/<synset>/ILSVRC2012_val_NNNNNNNN.JPEG` (ImageFolder) or a flat `val/` plus a labels file beside it
(`LOC_val_solution.csv`, or `val_synsets.txt` / `val.txt` text lines): what `imagefolder.scan_images` reads.
The folder is written as one unit: staged beside the target, then renamed into place, so an error, a full disk
or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from swinprof.errors import DataPathError, InvalidOptionError, ResourceError
from swinprof.evaluate.synthetic_terms import LABEL_FORMATS, LAYOUTS, MAX_COUNT, NUM_CLASSES
from swinprof.files import (
    _current_umask,
    _nearest_existing,
    check_output_dir,
    make_parents,
    remove_folders,
    signals_held,
)

IMAGES_DIR = "val"
RECORD_STEM = "make_images"
# (width, height, share of images): the validation set's common shapes, an approximation (see the module).
SHAPE_MIX = ((500, 375, 0.40), (375, 500, 0.12), (500, 333, 0.09), (333, 500, 0.03), (500, 500, 0.05))
# (quality, Pillow subsampling: 0 = 4:4:4, 2 = 4:2:0, grayscale, share of images)
COMPRESSION = ((96, 0, False, 0.83), (90, 2, False, 0.08), (75, 2, False, 0.07), (96, 0, True, 0.02))
DETAIL = 1.25  # the texture level that gives the mean file size above (128.4 KB over 2,000 images of seed 0)
# An upper estimate of the mean file size (~128 KB), for the free-disk check before any work.
ESTIMATED_MEAN_BYTES = 160_000
DISK_MARGIN_BYTES = 256 * 2**20
PURPOSES = {"classes": 1, "labels": 2, "spec": 3, "pixels": 4, "boxes": 5}  # one random stream each (fixed forever)


@dataclass(frozen=True)
class ImageSpec:
    """One image to write: its 1-based number, shape, JPEG settings and class index."""

    number: int
    width: int
    height: int
    quality: int
    subsampling: int
    grayscale: bool
    label: int

    @property
    def name(self) -> str:
        return f"ILSVRC2012_val_{self.number:08d}.JPEG"


@dataclass(frozen=True)
class WrittenSet:
    """What `write_image_set` wrote: the folder, where the images are, the labels file (flat layout) and each
    image's spec and size in bytes."""

    root: Path
    images: Path
    labels: Path | None
    layout: str
    labels_format: str | None
    seed: int
    specs: tuple[ImageSpec, ...]
    sizes: tuple[int, ...]


def plan_images(count: int, classes: int, seed: int) -> list[ImageSpec]:
    """The specs of images 1..count: each one's shape and compression from its own seeded draw; classes balanced
    over `classes` seeded synsets (each block of `classes` images holds each class once)."""
    chosen = np.sort(_rng(seed, "classes").choice(NUM_CLASSES, size=classes, replace=False))
    specs = []
    for block in range(0, count, classes):
        order = _rng(seed, "labels", block).permutation(classes)
        for offset in range(min(classes, count - block)):
            number = block + offset + 1
            rng = _rng(seed, "spec", number)
            width, height = _shape(rng)
            quality, subsampling, gray = COMPRESSION[_pick(rng, [c[3] for c in COMPRESSION])][:3]
            specs.append(ImageSpec(number, width, height, quality, subsampling, gray, int(chosen[order[offset]])))
    return specs


def render_jpeg(spec: ImageSpec, seed: int) -> bytes:
    """The JPEG bytes of one image (deterministic in `spec` and `seed`)."""
    rng = _rng(seed, "pixels", spec.number)
    image = _photo_like(rng, spec.width, spec.height, DETAIL * float(np.exp(rng.normal(0.0, 0.45))))
    if spec.grayscale:
        image = image.convert("L")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=spec.quality, subsampling=spec.subsampling, optimize=False)
    return buffer.getvalue()


def check_request(out: str | os.PathLike, count: int, layout: str, labels_format: str | None, classes: int) -> Path:
    """Refuse, before any work, what cannot be written: bad counts or names, a target that is not an empty or new
    folder, a disk without room for the estimated size."""
    out = Path(out)
    if not 1 <= count <= MAX_COUNT:
        raise InvalidOptionError(f"count must be between 1 and {MAX_COUNT:,}, got {count}")
    if not 1 <= classes <= NUM_CLASSES:
        raise InvalidOptionError(f"classes must be between 1 and {NUM_CLASSES}, got {classes}")
    if layout not in LAYOUTS:
        raise InvalidOptionError(f"unknown layout {layout!r}; choose one of: {', '.join(LAYOUTS)}")
    if layout == "synsets" and labels_format is not None:
        raise InvalidOptionError("a labels format goes with the flat layout only (synset folders are the labels)")
    if layout == "flat" and labels_format is None:
        raise InvalidOptionError(f"the flat layout needs a labels format: one of {', '.join(LABEL_FORMATS)}")
    if layout == "flat" and labels_format not in LABEL_FORMATS:
        raise InvalidOptionError(f"unknown labels format {labels_format!r}; choose one of: {', '.join(LABEL_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        kind = "a file" if not out.is_dir() else "a folder that is not empty"
        raise DataPathError(f"{str(out)!r} is {kind}: give a new or empty folder for the images")
    check_output_dir(out)
    base = _nearest_existing(out)
    needed, free = count * ESTIMATED_MEAN_BYTES + DISK_MARGIN_BYTES, shutil.disk_usage(base).free
    if needed > free:
        raise ResourceError(f"{count:,} images need about {needed / 1e9:.1f} GB and {str(base)!r} has "
                            f"{free / 1e9:.1f} GB free: use a smaller --count or another disk")  # fmt: skip
    return out


def write_image_set(out: str | os.PathLike, count: int, layout: str = "synsets", labels_format: str | None = None,
                    classes: int = NUM_CLASSES, seed: int = 0,
                    on_image: Callable[[int], None] | None = None) -> WrittenSet:  # fmt: skip
    """Write `count` images into `out/val/` (synset folders, or flat plus the labels file in `out/`) and the
    record `out/make_images.md|json`, as one unit.

    `on_image(n)` is called after each image with the number written so far. Returns what was written (sizes
    included), with the paths of the published folder.
    """
    out = check_request(out, count, layout, labels_format, classes)
    specs = plan_images(count, classes, seed)
    synsets = _synsets()
    sizes = []
    with _published(out) as staging:
        for spec in specs:
            folder = staging / IMAGES_DIR / (synsets[spec.label] if layout == "synsets" else "")
            folder.mkdir(parents=True, exist_ok=True)
            data = render_jpeg(spec, seed)
            (folder / spec.name).write_bytes(data)
            sizes.append(len(data))
            if on_image is not None:
                on_image(len(sizes))
        if labels_format is not None:
            text = labels_text(specs, labels_format, seed)
            (staging / LABEL_FORMATS[labels_format]).write_text(text, encoding="utf-8")
        labels = out / LABEL_FORMATS[labels_format] if labels_format else None
        written = WrittenSet(out, out / IMAGES_DIR, labels, layout, labels_format, seed, tuple(specs), tuple(sizes))
        _write_record(written, staging)
    return written


def _write_record(written: WrittenSet, staging: Path) -> None:
    """`make_images.md` / `.json` beside the images: what was written and how (see `synthetic_report`)."""
    from swinprof.evaluate.synthetic_report import image_set_report  # it reads this module's tables
    from swinprof.report.writer import report_files

    for name, data in report_files(image_set_report(written), RECORD_STEM, ("markdown", "json")).items():
        (staging / name).write_bytes(data)


def labels_text(specs: list[ImageSpec], labels_format: str, seed: int) -> str:
    """The labels file of a flat layout: the CSV rows (ImageId without extension, synset then boxes, in a seeded
    order: readers must not depend on sorted rows), or `filename synset` / `filename index` lines."""
    synsets = _synsets()
    if labels_format == "csv":
        rng = _rng(seed, "boxes")
        rows = [f"{s.name.rsplit('.', 1)[0]},{_boxes(rng, s, synsets[s.label])}" for s in specs]
        return "ImageId,PredictionString\n" + "".join(rows[i] + "\n" for i in rng.permutation(len(rows)))
    label = (lambda s: synsets[s.label]) if labels_format == "synset" else (lambda s: str(s.label))
    return "".join(f"{s.name} {label(s)}\n" for s in specs)


def _boxes(rng: np.random.Generator, spec: ImageSpec, synset: str) -> str:
    """1-3 boxes `synset x_min y_min x_max y_max` inside the image, all of its one class."""
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = np.sort(rng.choice(spec.width, size=2, replace=False))
        y0, y1 = np.sort(rng.choice(spec.height, size=2, replace=False))
        boxes.append(f"{synset} {x0} {y0} {x1} {y1}")
    return " ".join(boxes)


def _rng(seed: int, purpose: str, number: int = 0) -> np.random.Generator:
    """An independent generator per (seed, purpose, image): drawing one image never shifts another."""
    return np.random.default_rng(np.random.SeedSequence([seed, PURPOSES[purpose], number]))


def _pick(rng: np.random.Generator, weights: list[float]) -> int:
    return int(rng.choice(len(weights), p=np.asarray(weights) / sum(weights)))


def _shape(rng: np.random.Generator) -> tuple[int, int]:
    shares = [s[2] for s in SHAPE_MIX]
    i = _pick(rng, [*shares, 1.0 - sum(shares)])
    return SHAPE_MIX[i][:2] if i < len(SHAPE_MIX) else _other_shape(rng)


def _other_shape(rng: np.random.Generator) -> tuple[int, int]:
    """The images outside the common shapes: long side 500 px for half of them, else 200-499 px or larger (up to
    2048 px, rare); the short side 50-100% of the long one; landscape three times in four."""
    kind = _pick(rng, [0.50, 0.27, 0.19, 0.04])
    long_side = (500, int(rng.integers(200, 500)), int(rng.integers(501, 1025)), int(rng.integers(1025, 2049)))[kind]
    short_side = max(1, round(long_side * float(rng.uniform(0.5, 1.0))))
    return (long_side, short_side) if rng.random() < 0.75 else (short_side, long_side)


def _photo_like(rng: np.random.Generator, width: int, height: int, detail: float) -> Image.Image:
    """An RGB image with a photo's structure: a smooth colour field and flat shapes drawn at half size, textured
    at half size by noise at 1/32, 1/8 and 1/2 of full resolution, upscaled, plus per-pixel grain. Working at half
    size keeps the cost of one 500x375 image to a few ms."""
    w, h = max(2, (width + 1) // 2), max(2, (height + 1) // 2)
    base = _noise(rng, w, h, int(rng.integers(2, 7)), int(rng.integers(2, 7)), Image.Resampling.BICUBIC)
    _draw_shapes(ImageDraw.Draw(base), rng, w, h)
    pixels = np.asarray(base, dtype=np.float32)
    for cell, amplitude in ((16, 14.0), (4, 10.0)):
        texture = np.asarray(_noise(rng, w, h, w // cell, h // cell, Image.Resampling.BILINEAR), dtype=np.float32)
        pixels += (texture - 127.5) * np.float32(amplitude * detail / 127.5)
    pixels += rng.integers(-9, 10, size=pixels.shape, dtype=np.int8) * np.float32(detail)
    half = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    full = np.asarray(half.resize((width, height), Image.Resampling.BILINEAR), dtype=np.int16)
    grain = max(1, round(3 * detail))
    full = full + rng.integers(-grain, grain + 1, size=full.shape, dtype=np.int16)
    return Image.fromarray(np.clip(full, 0, 255).astype(np.uint8))


def _noise(rng: np.random.Generator, width: int, height: int, cells_x: int, cells_y: int,
           resample: Image.Resampling) -> Image.Image:  # fmt: skip
    """Random colours on a `cells_x x cells_y` grid (at least 2x2), resized to `width x height`; each colour is
    a random grey mixed with a random hue at a random saturation (a photo is rarely saturated everywhere)."""
    shape = (max(2, cells_y), max(2, cells_x))
    grey, colour = rng.integers(0, 256, size=(*shape, 1)), rng.integers(0, 256, size=(*shape, 3))
    saturation = rng.uniform(0.2, 0.8, size=(*shape, 1))
    grid = (grey + (colour - grey) * saturation).astype(np.uint8)
    return Image.fromarray(grid).resize((width, height), resample)


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """3-11 flat-coloured ellipses, rectangles and polygons: the sharp edges a photo's objects give."""
    for _ in range(int(rng.integers(3, 12))):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(1, max(2, w // 2))), y0 + int(rng.integers(1, max(2, h // 2)))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            corners = int(rng.integers(3, 7))
            draw.polygon([(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(corners)], fill=colour)


def _synsets() -> list[str]:
    from swinprof.evaluate.labels import imagenet_synsets

    return imagenet_synsets()


@contextlib.contextmanager
def _published(out: Path) -> Iterator[Path]:
    """A staging folder beside `out`, renamed to `out` when the body succeeds (replacing an empty folder);
    removed, with any parent folders made for it, when it fails or is interrupted."""
    created = make_parents(out.parent if str(out.parent) else Path("."))
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        yield staging
        os.chmod(staging, 0o777 & ~_current_umask())  # mkdtemp makes 0700; a published folder reads like others
        with signals_held():
            os.rename(staging, out)
    except BaseException as exc:  # Ctrl-C included: nothing stays behind
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        remove_folders(created)
        if isinstance(exc, OSError) and not isinstance(exc, DataPathError):
            raise DataPathError(f"could not write {str(out)!r}: {exc.strerror or exc}") from exc
        raise
