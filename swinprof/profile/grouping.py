"""Stage groupings: a model split into named steps whose composition is its forward.

The profilers take any `nn.Module`; a grouping tells them which steps to report (and time) separately.
A step is an `nn.Module` or a plain callable `(x) -> y`; running the steps one after another on the example
input must compute the model's forward, which is what makes per-stage rows add up to the whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

StageFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Stage:
    """One step of a grouping: `fn(x) -> y`, and the modules whose parameters it owns (for the params column)."""

    name: str
    fn: StageFn
    modules: tuple[nn.Module, ...] = ()


StageSpec = Stage | tuple[str, nn.Module | StageFn]


def as_stages(model: nn.Module, stages: Sequence[StageSpec] | None = None) -> list[Stage]:
    """Normalise a grouping; `None` means one stage holding the whole model."""
    if stages is None:
        return [Stage(type(model).__name__, model, (model,))]
    out = []
    for spec in stages:
        if isinstance(spec, Stage):
            out.append(spec)
            continue
        name, step = spec
        out.append(Stage(name, step, (step,) if isinstance(step, nn.Module) else ()))
    if len({s.name for s in out}) != len(out):
        raise ValueError("stage names must be unique")
    return out


def run_stages(stages: Sequence[Stage], x: torch.Tensor) -> list[torch.Tensor]:
    """Run the steps in order; returns each stage's input (the last entry is the model output)."""
    inputs = [x]
    for stage in stages:
        x = stage.fn(x)
        inputs.append(x)
    return inputs


def swin_stages(model: nn.Module) -> list[Stage]:
    """Patch embed, stage 1..4 (each with its trailing patch merging), norm+head of a `SwinTransformer`.

    Equal to `model(x)` for valid inputs (the input-shape check of `forward_features` is skipped).
    """

    def embed(x: torch.Tensor) -> torch.Tensor:
        return model.pos_drop(model.patch_embed(x))

    def head(x: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.norm(x))

    stages = [Stage("patch_embed", embed, (model.patch_embed, model.pos_drop))]
    stages += [Stage(f"stage{i + 1}", layer, (layer,)) for i, layer in enumerate(model.layers)]
    stages.append(Stage("norm+head", head, (model.norm, model.head)))
    return stages
