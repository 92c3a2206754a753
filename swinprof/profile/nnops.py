"""NN operations: each module type with the distinct configurations it appears with."""

from __future__ import annotations

import pandas as pd
from torch import nn

MAX_LISTED = 8  # more distinct configurations than this are shown as first ... last

# Default-valued arguments that only lengthen the table (as the seed write-up prints `LayerNorm ((96,), eps=1e-05)`).
_DEFAULT_FRAGMENTS = {
    "LayerNorm": (", elementwise_affine=True", ", bias=True"),
    "Dropout": (", inplace=False",),
}


def _config(module: nn.Module) -> str:
    text = module.extra_repr()
    for fragment in _DEFAULT_FRAGMENTS.get(type(module).__name__, ()):
        text = text.replace(fragment, "")
    return f"({text})" if text else ""


def _summarise(configs: list[str]) -> str:
    if len(configs) <= MAX_LISTED:
        return "; ".join(configs)
    return "; ".join(configs[:3]) + f"; ... ({len(configs)} distinct) ...; " + "; ".join(configs[-2:])


def nn_op_table(model: nn.Module, calls: dict[str, int] | None = None, leaves_only: bool = False) -> pd.DataFrame:
    """One row per module type, in order of first appearance.

    Columns: type, modules (instances), calls (forward calls seen by the counting pass; blank when `calls` is
    None), distinct (number of distinct configurations), configurations (`extra_repr`, first-seen order).
    """
    types: dict[str, dict] = {}
    for name, module in model.named_modules():
        if leaves_only and any(True for _ in module.children()):
            continue
        key = type(module).__name__
        entry = types.setdefault(key, {"instances": 0, "calls": 0, "configs": {}})
        entry["instances"] += 1
        entry["calls"] += (calls or {}).get(name, 0)
        entry["configs"].setdefault(_config(module), None)
    rows = []
    for key, entry in types.items():
        configs = [c for c in entry["configs"] if c] or [""]
        rows.append(
            {
                "type": key,
                "modules": entry["instances"],
                "calls": entry["calls"] if calls is not None else None,
                "distinct": len(entry["configs"]),
                "configurations": _summarise(configs),
            }
        )
    return pd.DataFrame(rows)
