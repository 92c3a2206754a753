"""Which layers a method quantizes: module-name globs (`include`, `skip`), shared by every method and runtime.

A glob that matches a module also covers everything below it, so `patch_embed` keeps `patch_embed.proj` in
floating point.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from torch import nn


def matches(fqn: str, patterns: Iterable[str]) -> bool:
    """True if `fqn` or one of its ancestors (`a`, `a.b` for `a.b.c`) matches one of the globs."""
    parts = fqn.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pat) for pat in patterns for p in prefixes)


def selected_modules(
    model: nn.Module, include: Iterable[str], skip: Iterable[str], types: tuple[type, ...] = (nn.Linear,)
) -> list[str]:
    """Names of the modules of `types` that `include` selects and `skip` does not, in model order."""
    include, skip = tuple(include), tuple(skip)
    return [
        name
        for name, mod in model.named_modules()
        if isinstance(mod, types) and matches(name, include) and not matches(name, skip)
    ]
