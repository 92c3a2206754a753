"""One memoisation rule for geometry tensors (shift masks, gather indices, block masks): `geometry_cache`.

Geometry tensors depend only on ints (map size, window, shift, batch) and a device, so eager code builds
each one once. Tracing is different: torch.export and dynamo run the Python with fake tensors and
symbolic sizes, and a fake tensor that reached a cache would replace the real one in every later eager
call (a real one fetched while tracing would be baked in for one batch size). So while anything traces,
the builder runs directly and its ops become part of the traced graph; nothing is read from or written to
the cache.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import torch
from torch._guards import TracingContext
from torch.utils._python_dispatch import _disable_current_modes

P = ParamSpec("P")
R = TypeVar("R")

_CACHES: list[Callable] = []
_SYMBOLIC = (torch.SymInt, torch.SymFloat, torch.SymBool)


def _any_symbolic(args: tuple) -> bool:
    """Any symbolic number among `args` or one level of tuples inside them (geometry pairs)."""
    for arg in args:
        if isinstance(arg, tuple):
            for item in arg:
                if isinstance(item, _SYMBOLIC):
                    return True
        elif isinstance(arg, _SYMBOLIC):
            return True
    return False


def _fake_mode_active() -> bool:
    # What `torch._guards.detect_fake_mode()` finds without inputs (a FakeTensorMode on the dispatch stack, or
    # a tracing context), at a fraction of its cost: this runs several times per block in eager mode.
    return torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE) is not None or (
        TracingContext.try_get() is not None
    )


def is_tracing(*args: object) -> bool:
    """True while torch.compile / torch.export / a fake-tensor or jit trace runs, or if any arg is symbolic.

    `torch.compiler.is_compiling()` comes first: dynamo folds it to a constant, so compiled code never reaches
    the fake-mode checks, which dynamo cannot trace (`detect_fake_mode()` was a graph break in every shifted
    block). Export sets it too; the other checks catch tracing that does not (make_fx, a FakeTensorMode used
    directly, torch.jit.trace, symbolic sizes passed in).
    """
    if torch.compiler.is_compiling():
        return True
    return _any_symbolic(args) or torch._C._is_tracing() or _fake_mode_active()


@contextlib.contextmanager
def as_model_state() -> Iterator[None]:
    """Build a cached value the way a model's buffers are built: outside inference mode (an inference tensor
    cached there could not be saved by autograd in a later training step), without autograd, and unseen by
    the dispatch modes that meter a call (tensor peak, MAC counting): a cache filled on the first call is
    model state, not per-call cost, so the first call meters exactly like every later one."""
    with torch.inference_mode(False), torch.no_grad(), _disable_current_modes():
        yield


def _outside_inference_mode(build: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(build)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with as_model_state():
            return build(*args, **kwargs)

    return run


def geometry_cache(maxsize: int = 64) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: memoise a geometry builder in eager mode, call it directly while tracing.

    The builder takes hashable positional arguments (ints, tuples of ints, a device string) and returns
    tensors (or tuples of tensors and ints). Eager: an LRU cache of `maxsize` entries, each built
    `as_model_state()`. Tracing (`is_tracing(*args)`): the builder runs as plain code so
    its ops are traced with the caller's fake tensors and symbolic sizes. Callers must not modify results.
    The wrapper has `cache_clear()` and `cache_info()`; `clear_geometry_caches()` clears every such cache.
    """

    def decorate(build: Callable[P, R]) -> Callable[P, R]:
        cached = functools.lru_cache(maxsize=maxsize)(_outside_inference_mode(build))

        @functools.wraps(build)
        def get(*args: P.args, **kwargs: P.kwargs) -> R:
            if is_tracing(*args, *kwargs.values()):
                return build(*args, **kwargs)
            return cached(*args, **kwargs)

        get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        get.cache_info = cached.cache_info  # type: ignore[attr-defined]
        _CACHES.append(get)
        return get

    return decorate


def clear_geometry_caches() -> None:
    """Empty every `geometry_cache` (e.g. to test the first call for a geometry, or to free device memory)."""
    for cache in _CACHES:
        cache.cache_clear()
