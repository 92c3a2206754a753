"""The attention registry: name -> function with one signature.

An implementation is `fn(x, attn, window, shift, chunks=1) -> y` where
- `x` is the normed feature map `(B, H, W, C)`, already padded so H, W are window multiples;
- `attn` is the block's `WindowAttention` (projections, heads, position bias, v1/v2 scoring);
- `window` is `(wh, ww)`, `shift` is `(sh, sw)` with `(0, 0)` for a regular block;
- `chunks` > 1 asks for sequential attention: the windows attended in that many groups, one after another
  (`models.sequential.attend_in_chunks`); only implementations registered with `chunks=True` get it;
- `y` is `(B, H, W, C)`: the attention output after the output projection, un-shifted.
An implementation may also register a `check(device, dtype) -> str | None` that names why it cannot run
in a setting (e.g. "needs CUDA"); comparisons list that reason instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import torch

from swinprof.errors import MemoryOptionError, UnknownAttentionError

if TYPE_CHECKING:
    from swinprof.models.blocks import WindowAttention


class AttentionFn(Protocol):
    def __call__(
        self,
        x: torch.Tensor,
        attn: WindowAttention,
        window: tuple[int, int],
        shift: tuple[int, int],
        chunks: int = 1,
    ) -> torch.Tensor: ...


Check = Callable[[torch.device, torch.dtype], "str | None"]

_IMPLS: dict[str, AttentionFn] = {}
_CHECKS: dict[str, Check] = {}
_CHUNKED: set[str] = set()


def register_attention(
    name: str, check: Check | None = None, chunks: bool = True
) -> Callable[[AttentionFn], AttentionFn]:
    """Decorator: make `fn` selectable as `attn_impl=name`; `chunks=False` if it cannot attend in chunks."""

    def decorate(fn: AttentionFn) -> AttentionFn:
        if name in _IMPLS:
            raise ValueError(f"attention implementation {name!r} registered twice")
        _IMPLS[name] = fn
        if check is not None:
            _CHECKS[name] = check
        if chunks:
            _CHUNKED.add(name)
        return fn

    return decorate


def available_attention() -> list[str]:
    """Names of every registered implementation, `reference` first."""
    return sorted(_IMPLS, key=lambda n: (n != "reference", n))


def get_attention(name: str) -> AttentionFn:
    if name not in _IMPLS:
        raise UnknownAttentionError(
            f"unknown attention implementation {name!r}; choose one of: {', '.join(available_attention())}"
        )
    return _IMPLS[name]


def unavailable_reason(name: str, device: torch.device | str, dtype: torch.dtype) -> str | None:
    """Why `name` cannot run on `device`/`dtype`, or None when it can."""
    get_attention(name)
    check = _CHECKS.get(name)
    return check(torch.device(device), dtype) if check else None


def chunked_attention() -> list[str]:
    """Names of the implementations that support sequential attention (`chunks > 1`), `reference` first."""
    return [n for n in available_attention() if n in _CHUNKED]


def require_chunks(name: str, chunks: int) -> None:
    """Raise MemoryOptionError if `chunks > 1` and implementation `name` cannot attend in chunks."""
    get_attention(name)
    if chunks > 1 and name not in _CHUNKED:
        raise MemoryOptionError(
            f"attention implementation {name!r} cannot attend in chunks (sequential attention); "
            f"use one of: {', '.join(chunked_attention())}"
        )
