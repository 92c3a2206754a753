"""ImageNet-1k class identities: synset ids (wnids, index order) and human-readable names.

`swinprof/data/imagenet_classes.txt` holds one `wnid<TAB>lemmas` line per class, in the standard index
order (sorted wnids), as published with ILSVRC-2012.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from types import MappingProxyType

SYNSET_RE = re.compile(r"^n[0-9]{8}\Z")  # a WordNet noun synset id, the form ImageNet names its classes by
IMAGENET_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, str], ...]:
    text = resources.files("swinprof").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line.strip())
    if len(rows) != IMAGENET_CLASSES:
        raise RuntimeError(f"imagenet_classes.txt has {len(rows)} rows, expected {IMAGENET_CLASSES}: the install is "
                           "damaged")  # fmt: skip
    return rows


def imagenet_synsets() -> list[str]:
    """The 1000 wnids (`n01440764`, ...) in class-index order."""
    return [wnid for wnid, _ in _rows()]


@functools.lru_cache(maxsize=1)
def imagenet_synset_index() -> MappingProxyType[str, int]:
    """wnid -> class index (0-999), read-only."""
    return MappingProxyType({wnid: i for i, (wnid, _) in enumerate(_rows())})


def imagenet_class_names() -> list[str]:
    """Short class names (the first lemma: `tench`, `goldfish`, ...) in class-index order."""
    return [lemmas.split(",")[0].strip() for _, lemmas in _rows()]
