"""Shifted-window attention implementations, chosen by name (`attn_impl=`).

Every module in this package that calls `register_attention` is imported here, so adding an
implementation is one new file. `reference` (roll + partition + bias + -100 mask) is the documented
baseline the others are tested against.
"""

from __future__ import annotations

import importlib
import pkgutil

from swinprof.models.attention.registry import (
    AttentionFn,
    available_attention,
    chunked_attention,
    get_attention,
    register_attention,
    require_chunks,
    unavailable_reason,
)

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "registry":
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "AttentionFn",
    "available_attention",
    "chunked_attention",
    "get_attention",
    "register_attention",
    "require_chunks",
    "unavailable_reason",
]
