"""Evaluation preprocessing with Pillow and torch (no torchvision).

The Swin eval pipeline: resize the shorter side to `floor(img_size / crop_pct)` (bicubic), center-crop
`img_size`, scale to [0, 1], normalise with the ImageNet mean/std. For swin_s at 224: resize 248, crop 224.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from swinprof.errors import DataPathError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file; a missing or unreadable file is a clear DataPathError."""
    if not os.path.isfile(path):
        raise DataPathError(f"image file {str(path)!r} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise DataPathError(f"{str(path)!r} is not a readable image ({exc})") from exc
    return image
