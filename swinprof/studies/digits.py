"""A real, offline image-classification data set: scikit-learn's bundled handwritten digits as an ImageFolder.

`load_digits()` ships 1797 grayscale 8x8 images (values 0..16, 10 classes) inside the scikit-learn wheel, so it
needs no download. `write_digits` splits them per class with a seeded shuffle (stratified: every split keeps the
class proportions) into train / calibration / test, upsamples each image to 32x32 (bilinear; 32 is the smallest
input a Swin takes here, see `swinprof.models.config`) and writes 8-bit grayscale PNGs in class folders named
`0`..`9`, plus `classes.txt` (the class map `--class-map` reads) and `split.json` (what was written, how).
The evaluation transform turns the grayscale PNG into 3 identical RGB channels.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from swinprof.errors import SwinprofError, require_extra

SPLITS = ("train", "calib", "test")
DEFAULT_FRACTIONS = (0.6, 0.1, 0.3)
IMAGE_SIZE = 32
CLASS_MAP = "classes.txt"


@dataclass(frozen=True)
class DigitsSplit:
    """Where each image of `load_digits()` goes: `indices[split]` are row numbers into its arrays."""

    indices: dict[str, list[int]]
    seed: int
    fractions: tuple[float, float, float]

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.indices.items()}


def load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """`(images (1797, 8, 8) float in 0..16, labels (1797,) int)` from scikit-learn's bundled copy."""
    require_extra("sklearn", "trained", "scikit-learn's bundled digits data set")
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target.astype(int)


def split_indices(labels: np.ndarray, seed: int = 0, fractions=DEFAULT_FRACTIONS) -> DigitsSplit:
    """A stratified split: each class's rows shuffled with `seed`, then cut at the cumulative `fractions`."""
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise SwinprofError(f"split fractions must be three positive numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rng.shuffle(rows)
        cuts = np.round(np.cumsum(fractions)[:2] * len(rows)).astype(int)
        for name, part in zip(SPLITS, np.split(rows, cuts)):
            out[name] += part.tolist()
    return DigitsSplit({k: sorted(v) for k, v in out.items()}, seed, tuple(fractions))


def to_png(image: np.ndarray, size: int = IMAGE_SIZE) -> bytes:
    """An 8x8 digit (0..16) as an 8-bit grayscale PNG of `size` x `size` (bilinear upsampling)."""
    pixels = np.clip(np.round(image * (255 / 16)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.BILINEAR).save(buf, format="PNG")
    return buf.getvalue()


def digits_files(seed: int = 0, fractions=DEFAULT_FRACTIONS, splits=SPLITS) -> tuple[dict[str, bytes], DigitsSplit]:
    """The files of the data set's `splits` (relative path -> content) and the split that placed them."""
    images, labels = load_arrays()
    split = split_indices(labels, seed, fractions)
    files = {CLASS_MAP: "".join(f"{c}\n" for c in range(10)).encode()}
    for name, rows in split.indices.items():
        for row in rows if name in splits else ():
            files[f"{name}/{labels[row]}/{row:04d}.png"] = to_png(images[row])
    manifest = {"source": "sklearn.datasets.load_digits", "seed": seed, "fractions": list(fractions),
                "image_size": IMAGE_SIZE, "upsampling": "bilinear", "counts": split.counts()}  # fmt: skip
    files["split.json"] = (json.dumps(manifest, indent=1) + "\n").encode()
    return files, split


def write_digits(root: str | Path, seed: int = 0, fractions=DEFAULT_FRACTIONS, splits=SPLITS) -> DigitsSplit:
    """Write the ImageFolder under `root` (`train/`, `calib/`, `test/`, `classes.txt`, `split.json`) as one unit
    (`report.writer.publish`: a split folder that exists already is refused, never mixed into)."""
    from swinprof.report.writer import publish

    files, split = digits_files(seed, fractions, splits)
    publish(files, root)
    return split


def split_tensors(name: str, transform, seed: int = 0, fractions=DEFAULT_FRACTIONS):
    """One split as the files would decode, without writing them: `(N, 3, 32, 32)` through `transform`, labels
    `(N,)` (for tests and quick checks; the trainer reads the written ImageFolder)."""
    import torch

    images, labels = load_arrays()
    rows = split_indices(labels, seed, fractions).indices[name]
    x = torch.stack([transform(Image.open(io.BytesIO(to_png(images[r])))) for r in rows])
    return x, torch.tensor(labels[rows])
