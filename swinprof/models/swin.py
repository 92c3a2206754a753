"""The Swin Transformer network (v1 and v2) and its builder."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from swinprof.errors import InvalidResolutionError, MemoryOptionError
from swinprof.measure.device import resolve_device
from swinprof.models.attention import get_attention, require_chunks
from swinprof.models.blocks import PatchEmbed, PatchMerging, SwinBlock, SwinStage, dropout
from swinprof.models.config import RESOLUTION_MULTIPLE, SwinConfig, get_variant
from swinprof.models.windows import clamp_window

GRANULARITIES = ("stage", "block")


class SwinTransformer(nn.Module):
    """Swin v1/v2 image classifier: `(B, 3, H, W)` -> logits `(B, num_classes)`.

    Module names match the official checkpoints: `patch_embed`, `layers.{i}.blocks.{j}`,
    `layers.{i}.downsample`, `norm`, `head`. Each block's window and shift are fixed at build time from
    `config.img_size` (clamped where a feature map is no larger than the window, as the official code
    does); other input sizes that are multiples of 32 run with zero padding to window multiples.
    """

    def __init__(self, config: SwinConfig, attn_impl: str = "reference") -> None:
        super().__init__()
        get_attention(attn_impl)
        self.config = config
        c = config
        self.patch_embed = PatchEmbed(c.patch_size, c.in_chans, c.embed_dim)
        self.pos_drop = dropout(c.drop_rate)
        drop_path = torch.linspace(0, c.drop_path_rate, sum(c.depths), device="cpu").tolist()
        stages, first = [], 0
        for i, (depth, heads) in enumerate(zip(c.depths, c.num_heads)):
            dim = c.embed_dim * 2**i
            side = c.stage_resolution(i)
            window, shift = clamp_window((side, side), c.window_size, c.window_size // 2)
            pretrained = (c.pretrained_window_sizes[i],) * 2
            blocks = [
                SwinBlock(
                    dim,
                    heads,
                    window,
                    shift=shift if j % 2 else (0, 0),
                    version=c.version,
                    mlp_ratio=c.mlp_ratio,
                    qkv_bias=c.qkv_bias,
                    drop=c.drop_rate,
                    attn_drop=c.attn_drop_rate,
                    drop_path=drop_path[first + j],
                    pretrained_window=pretrained,
                    attn_impl=attn_impl,
                )
                for j in range(depth)
            ]
            downsample = PatchMerging(dim, c.version) if i < c.num_stages - 1 else None
            stages.append(SwinStage(blocks, downsample))
            first += depth
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(c.num_features)
        self.head = nn.Linear(c.num_features, c.num_classes) if c.num_classes else nn.Identity()
        self.apply(_init_weights)

    @property
    def attn_impl(self) -> str:
        return next(self.blocks()).attn_impl

    def no_weight_decay_keywords(self) -> tuple[str, ...]:
        """Parameter-name fragments the reference training keeps out of weight decay (microsoft/Swin-Transformer's
        `no_weight_decay_keywords`, beside its rule of no decay on 1-D parameters and biases): the position bias
        tables (v1), and v2's continuous position-bias MLP and per-head attention temperature (`logit_scale`),
        which decay would pull toward zero although neither is a feature weight."""
        v2 = ("cpb_mlp", "logit_scale") if self.config.version == 2 else ()
        return ("relative_position_bias_table", *v2)

    def blocks(self):
        """Every SwinBlock, stage by stage."""
        for stage in self.layers:
            yield from stage.blocks

    def set_attn_impl(self, name: str) -> SwinTransformer:
        """Switch every block to attention implementation `name`; weights are untouched.

        Raises MemoryOptionError if a block uses sequential attention and `name` cannot attend in chunks.
        """
        for block in self.blocks():
            require_chunks(name, block.attn_chunks)
        for block in self.blocks():
            block.attn_impl = name
        return self

    def set_grad_checkpointing(
        self, enable: bool = True, stages: Iterable[int] | None = None, granularity: str = "stage"
    ) -> SwinTransformer:
        """Activation checkpointing for `stages` (0-based; None = all) at "stage" or "block" granularity.

        `enable=False` turns it off for those stages. Outputs and gradients are unchanged; backward recomputes
        the forward of the checkpointed stages/blocks instead of keeping their activations.
        """
        if granularity not in GRANULARITIES:
            raise MemoryOptionError(
                f"unknown checkpoint granularity {granularity!r}; choose one of: {', '.join(GRANULARITIES)}"
            )
        for i in self._stage_indices(stages):
            self.layers[i].grad_checkpointing = granularity if enable else None
        return self

    def set_sequential_attention(self, chunks: int = 4, stages: Iterable[int] | None = (0, 1)) -> SwinTransformer:
        """Attend over the windows of `stages` (0-based; None = all) in `chunks` groups; `chunks=1` = batched.

        Swin v2 applies this to the first two stages, whose score tensors are the largest. Each block attends
        its chunks with its own implementation; one that cannot (flex) raises MemoryOptionError.
        """
        if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
            raise MemoryOptionError(f"sequential attention needs chunks >= 1 (an integer), got {chunks!r}")
        chosen = [block for i in self._stage_indices(stages) for block in self.layers[i].blocks]
        for block in chosen:
            require_chunks(block.attn_impl, chunks)
        for block in chosen:
            block.attn_chunks = chunks
        return self

    def memory_options(self) -> dict:
        """Current per-stage settings: `{"checkpoint": [None|"stage"|"block", ...], "attn_chunks": [int, ...]}`."""
        return {
            "checkpoint": [stage.grad_checkpointing for stage in self.layers],
            "attn_chunks": [stage.blocks[0].attn_chunks if len(stage.blocks) else 1 for stage in self.layers],
        }

    def _stage_indices(self, stages: Iterable[int] | None) -> list[int]:
        n = len(self.layers)
        if stages is None:
            return list(range(n))
        out = sorted(set(stages))
        bad = [s for s in out if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < n]
        if bad:
            raise MemoryOptionError(f"stage index {bad[0]!r} out of range: this model has stages 0..{n - 1} (0-based)")
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` -> normed last-stage features `(B, H/32, W/32, num_features)`."""
        _check_input(x, self.config)
        x = self.pos_drop(self.patch_embed(x))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """`(B, h, w, C)` -> logits `(B, num_classes)` by global average pooling."""
        return self.head(features.mean(dim=(1, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _check_input(x: torch.Tensor, config: SwinConfig) -> None:
    if x.ndim != 4 or x.shape[1] != config.in_chans:
        raise InvalidResolutionError(
            f"expected an image batch (B, {config.in_chans}, H, W), got shape {tuple(x.shape)}"
        )
    h, w = x.shape[-2:]
    if h % RESOLUTION_MULTIPLE or w % RESOLUTION_MULTIPLE:
        raise InvalidResolutionError(
            f"input {h}x{w} is not supported: height and width must be multiples of {RESOLUTION_MULTIPLE}"
        )


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif hasattr(module, "relative_position_bias_table"):
        nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)


def create_model(
    name: str,
    img_size: int | None = None,
    attn_impl: str = "reference",
    weights: str | None = None,
    device: str | torch.device | None = None,
    **overrides,
) -> SwinTransformer:
    """Build a registered variant, e.g. `create_model("swinv2_s_w8", img_size=256, attn_impl="reference")`.

    `img_size` defaults to the variant's; any multiple of 32 works. `overrides` replace config fields
    (`window_size=`, `num_classes=`, `depths=`, ...). `weights` loads a checkpoint file (official, timm or
    torchvision layout, `.pth` or `.safetensors`). `device="meta"` builds without allocating, for counting.
    """
    config = get_variant(name).config
    if img_size is not None:
        overrides["img_size"] = img_size
    if overrides:
        config = config.replace(**overrides)
    get_attention(attn_impl)  # an unknown name fails here, before anything is built
    if device is not None and str(device) != "meta":
        device = resolve_device(device)  # `tpu`, `CPU`, `cuda:junk`: one clear error, not torch's
    if device is not None and str(device) == "meta":
        with torch.device("meta"):
            model = SwinTransformer(config, attn_impl)
        return model.to("meta")
    from swinprof.models.checkpoint import load_checkpoint, read_state_dict

    # The file is read (and a hostile one refused) before seconds go into building the model.
    state_dict = read_state_dict(weights) if weights is not None else None
    model = SwinTransformer(config, attn_impl)
    if weights is not None:
        load_checkpoint(model, weights, state_dict=state_dict)
    return model.to(device) if device is not None else model
