"""Evaluation preprocessing with Pillow and torch (no torchvision).

The Swin eval pipeline: resize the shorter side to `floor(img_size / crop_pct)` (bicubic), center-crop
`img_size`, scale to [0, 1], normalise with the ImageNet mean/std. For swin_s at 224: resize 248, crop 224.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from swinprof.errors import DataPathError

T = TypeVar("T")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Bounds on what an image file may decode to: a 157-byte PNG can declare 1x20000 pixels, and resizing its shorter
# side to ~250 px would make a 248x4,960,000 image (several GB).
MAX_PIXELS = 50_000_000
MAX_ASPECT = 100


@dataclass(frozen=True)
class EvalTransform:
    """PIL image -> normalised `(3, img_size, img_size)` float tensor."""

    img_size: int = 224
    crop_pct: float = 0.9
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def resize_size(self) -> int:
        return math.floor(self.img_size / self.crop_pct)

    def describe(self) -> list[str]:
        """The pipeline as human-readable steps (for reports)."""
        return [
            f"Resize({self.resize_size}, interpolation=bicubic)",
            f"CenterCrop({self.img_size})",
            "ToTensor()",
            f"Normalize(mean={self.mean}, std={self.std})",
        ]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = resize_shorter_side(image.convert("RGB"), self.resize_size)
        image = center_crop(image, self.img_size)
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is `size`; the longer side is truncated like torchvision's Resize(int)."""
    w, h = image.size
    if min(w, h) == size:
        return image
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    return image.resize((new_w, new_h), Image.Resampling.BICUBIC)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Crop the central `size x size` square (rounded like torchvision's CenterCrop)."""
    w, h = image.size
    if w < size or h < size:  # an image smaller than the crop is padded with black, as torchvision does
        canvas = Image.new("RGB", (max(w, size), max(h, size)))
        canvas.paste(image, ((max(w, size) - w) // 2, (max(h, size) - h) // 2))
        image, (w, h) = canvas, canvas.size
    left = round((w - size) / 2.0)
    top = round((h - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def build_transform(variant_or_size, img_size: int | None = None, crop_pct: float | None = None) -> EvalTransform:
    """The one preprocessing policy, used by `predict`, `run` and `profile` alike.

    For a `Variant`: its own `crop_pct` (the eval setting its checkpoint was published with) at `img_size`
    (default: the variant's resolution), whatever the resolution, as timm resolves a pretrained config with an
    input-size override. A bare resolution gets the common crop_pct 0.9. `crop_pct` overrides either.
    """
    if isinstance(variant_or_size, int):
        return EvalTransform(variant_or_size, 0.9 if crop_pct is None else crop_pct)
    variant = variant_or_size
    size = variant.config.img_size if img_size is None else img_size
    return EvalTransform(size, variant.crop_pct if crop_pct is None else crop_pct)


def check_image_size(size: tuple[int, int], where: str) -> None:
    """Refuse images whose decoding or resizing would take far more memory than their file suggests."""
    w, h = size
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise DataPathError(
            f"{where} is {w}x{h} pixels: images up to {MAX_PIXELS // 10**6} megapixels are read (downscale it first)"
        )
    if max(w, h) > MAX_ASPECT * min(w, h):
        # Resizing the shorter side to ~250 px would blow the longer one up by the same factor.
        raise DataPathError(
            f"{where} is {w}x{h} pixels: the aspect ratio must be at most {MAX_ASPECT}:1 (crop it first)"
        )


def check_image(path: str | os.PathLike) -> None:
    """Read only the header of an image file and apply `load_image`'s checks (existence, format, size), so a
    command can refuse bad images before it builds a model."""
    with contextlib.closing(_open(path)):
        pass


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file; a missing, unreadable, oversized or bomb-like file is a clear DataPathError.

    The size is checked from the header, before any pixel is decoded; Pillow's own decompression-bomb check
    (warning or error) is an error here too.
    """
    image = _open(path)
    _guarded(path, image.load)
    return image


def _open(path: str | os.PathLike) -> Image.Image:
    """The image's header, size-checked (nothing decoded yet)."""
    if not os.path.isfile(path):
        raise DataPathError(f"image file {str(path)!r} does not exist")

    def opened() -> Image.Image:
        image = Image.open(path)
        check_image_size(image.size, f"image {str(path)!r}")
        return image

    return _guarded(path, opened)


def _guarded(path: str | os.PathLike, step: Callable[[], T]) -> T:
    """Run a Pillow step with its failures (bombs included) as one DataPathError naming the file."""
    where = repr(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return step()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataPathError(f"image {where} is too large to decode safely ({exc})") from exc
    except DataPathError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError, struct.error) as exc:
        raise DataPathError(f"{where} is not a readable image ({exc})") from exc
