"""The record of a synthetic image set (`evaluate.synthetic`): its settings and the sizes of the files it holds.

Written into the set's folder (`make_images.md` / `.json`) and printed by `swinprof make-images`. It names no
time and no machine, so two runs of one seed write identical folders; it does name the versions the JPEG bytes
depend on (Pillow, its libjpeg, numpy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import PIL
from PIL import features

from swinprof.evaluate.synthetic import SHAPE_MIX, ImageSpec, WrittenSet
from swinprof.report.document import Report

KB = 1000  # file sizes in decimal kilobytes, as disk and archive sizes are quoted (ImageNet val: 6.4 GB)
SIZE_METER = "file size: bytes of each JPEG file on disk; 1 KB = 1000 bytes, 1 MB = 10^6 bytes"
SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def image_set_report(written: WrittenSet) -> Report:
    """Settings, then file sizes by shape, by compression, and their distribution."""
    report = Report(f"{len(written.specs):,} ImageNet-like JPEGs (seed {written.seed})", settings=_settings(written))
    sizes = np.asarray(written.sizes, dtype=np.int64)
    report.add("sizes", "File sizes (KB)", _distribution(sizes), SIZE_METER)
    report.add("shapes", "By shape (width x height, px)", _grouped(written, _shape_group, "shape"),
               "the common shapes of ImageNet's validation set, then the others by their long side")  # fmt: skip
    report.add("compression", "By JPEG settings", _grouped(written, _compression_group, "JPEG"),
               "quality is Pillow's (libjpeg's) quality scale; 4:4:4 = no chroma subsampling")  # fmt: skip
    report.notes.append("content: seeded smooth colour fields, flat shapes and noise at several scales, made to "
                        "cost what a photo costs to decode, not to be classified; labels are assigned")  # fmt: skip
    report.notes.append("ImageNet-1k validation for comparison: 50,000 files, ~6.4 GB (mean ~128 KB)")
    return report


def _settings(written: WrittenSet) -> dict:
    """Paths relative to the set's folder (DIR), so the record does not depend on where the set was written."""
    labels = f" --labels DIR/{written.labels.name}" if written.labels is not None else ""
    turbo = features.version("libjpeg_turbo") if features.check_feature("libjpeg_turbo") else None
    return {
        "seed": written.seed,
        "layout": "synset folders" if written.layout == "synsets" else f"flat, labels in {written.labels.name}",
        "classes": len({s.label for s in written.specs}),
        "read it with": f"--data DIR/{written.images.name}{labels}",
        "Pillow": PIL.__version__,
        "libjpeg": f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {features.version('jpg')}",
        "numpy": np.__version__,
    }


def _distribution(sizes: np.ndarray) -> pd.DataFrame:
    quantiles = {f"p{q}": np.percentile(sizes, q) / KB for q in (5, 25, 50, 75, 95)}
    return pd.DataFrame([{"images": len(sizes), "total (MB)": sizes.sum() / 1e6, "mean": sizes.mean() / KB,
                          **quantiles, "min": sizes.min() / KB, "max": sizes.max() / KB}])  # fmt: skip


def _shape_group(spec: ImageSpec) -> str:
    if any((spec.width, spec.height) == (w, h) for w, h, _ in SHAPE_MIX):
        return f"{spec.width}x{spec.height}"
    long_side = max(spec.width, spec.height)
    if long_side == 500:
        return "other, long side 500"
    return "other, long side < 500" if long_side < 500 else "other, long side > 500"


def _compression_group(spec: ImageSpec) -> str:
    mode = "grayscale" if spec.grayscale else "colour"
    return f"quality {spec.quality}, {SUBSAMPLING[spec.subsampling] if not spec.grayscale else 'luma only'}, {mode}"


def _grouped(written: WrittenSet, key, title: str) -> pd.DataFrame:
    """One row per group, most images first: images, share, mean and median file size."""
    groups: dict[str, list[int]] = {}
    for spec, size in zip(written.specs, written.sizes):
        groups.setdefault(key(spec), []).append(size)
    rows = [{title: name, "images": len(sizes), "share (%)": 100 * len(sizes) / len(written.sizes),
             "mean (KB)": float(np.mean(sizes)) / KB, "median (KB)": float(np.median(sizes)) / KB}
            for name, sizes in groups.items()]  # fmt: skip
    return pd.DataFrame(rows).sort_values(["images", title], ascending=[False, True], kind="stable")
