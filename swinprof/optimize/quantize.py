"""torchao tensor-subclass quantization (`quantize_`): int8 weight-only, int8 dynamic, fp8 dynamic.

Which `nn.Linear` layers are quantized is decided by module-name globs (`include`, `skip`); a glob that matches a
module also covers everything below it, so `patch_embed` keeps `patch_embed.proj` in floating point.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterable

from torch import nn

from swinprof.errors import RecipeError, require_extra


def _matches(fqn: str, patterns: Iterable[str]) -> bool:
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
        if isinstance(mod, types) and _matches(name, include) and not _matches(name, skip)
    ]


def torchao_config(method: str):
    """The torchao 0.18 `quantize_` config object for a recipe method name."""
    q = require_extra("torchao.quantization", "quant", f"quantization method {method!r}")
    if method == "int8-weight-only":
        return q.Int8WeightOnlyConfig()
    if method == "int8-dynamic":
        return q.Int8DynamicActivationInt8WeightConfig()
    if method == "fp8-dynamic":
        # Per-row scales are the accurate fp8 recipe for linear layers on Ada/Hopper.
        return q.Float8DynamicActivationFloat8WeightConfig(granularity=q.PerRow())
    raise RecipeError(f"{method!r} is not a torchao method; choose int8-weight-only, int8-dynamic, fp8-dynamic")


def quantize_torchao(
    model: nn.Module, method: str, include: Iterable[str] = ("*",), skip: Iterable[str] = ()
) -> tuple[nn.Module, list[str]]:
    """A quantized deep copy of `model` (the original stays fp32) and the names of the quantized Linears."""
    q = require_extra("torchao.quantization", "quant", f"quantization method {method!r}")
    config = torchao_config(method)
    ordered = selected_modules(model, include, skip)
    names = set(ordered)
    if not names:
        raise RecipeError(f"[quantize] include/skip globs select no Linear layer of the model for {method!r}")
    quantized = copy.deepcopy(model)
    q.quantize_(quantized, config, filter_fn=lambda mod, fqn: isinstance(mod, nn.Linear) and fqn in names)
    return quantized, ordered
