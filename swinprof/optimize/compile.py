"""torch.compile wrappers: inductor with a mode, optional weight freezing, static shapes per batch size."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class CompiledModel:
    """`torch.compile(module, backend="inductor", mode=...)`, called under inference mode.

    `freezing=True` lets inductor treat parameters as constants (constant folding, weight prepacking; PT2E int8
    needs it to reach the oneDNN int8 kernels). The inductor config is patched around every call rather than
    set globally, so compiling one model does not change how another compiles. Shapes are static
    (`dynamic=False`): each new batch size compiles once, and that first call's time is the compile time.
    """

    def __init__(self, module: nn.Module, mode: str = "default", freezing: bool = False, fullgraph: bool = False):
        self.module = module
        self.mode = mode
        self.freezing = freezing
        self._compiled = torch.compile(
            module, backend="inductor", mode=None if mode == "default" else mode, fullgraph=fullgraph, dynamic=False
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=self.freezing), torch.inference_mode():
            return self._compiled(x)


def compile_model(
    module: nn.Module, backend: str, mode: str = "default", freezing: bool = False, fullgraph: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`module` itself for backend "none", else a CompiledModel."""
    if backend == "none":
        return module
    if backend != "inductor":
        raise ValueError(f"unknown compile backend {backend!r}")
    return CompiledModel(module, mode, freezing, fullgraph)
