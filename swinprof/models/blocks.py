"""Swin building blocks, v1 and v2. Parameter names follow microsoft/Swin-Transformer checkpoints.

Feature maps are channels-last `(B, H, W, C)` between blocks, so window partitioning is a view and the
LayerNorms/Linears act on the last dimension without transposes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from swinprof.models.attention import get_attention, require_chunks
from swinprof.models.windows import (
    Pair,
    log_spaced_coords_table,
    pad_to_windows,
    relative_position_index,
)

# v2 clamps its learnable logit scale at log(1/0.01): attention temperature never drops below 0.01.
LOGIT_SCALE_MAX = math.log(1.0 / 0.01)


def dropout(rate: float) -> nn.Module:
    """`nn.Dropout(rate)`, or `nn.Identity()` for rate 0 so inference pays no per-call dispatch for it."""
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 on the last dimension."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows: the pieces every attention implementation shares.

    v1: `softmax(q k^T / sqrt(d) + B)` with B from a learned `(2wh-1)(2ww-1) x heads` table.
    v2: `softmax(cos(q, k) * exp(min(logit_scale, log 100)) + 16 sigmoid(cpb_mlp(log coords)))`.
    How windows are formed (roll, mask, padding, fused gathers) is the attention implementation's job.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: Pair,
        version: int = 1,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        pretrained_window: Pair = (0, 0),
    ) -> None:
        super().__init__()
        self.dim, self.num_heads, self.window, self.version = dim, num_heads, window, version
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        num_offsets = (2 * window[0] - 1) * (2 * window[1] - 1)
        if version == 1:
            self.relative_position_bias_table = nn.Parameter(torch.zeros(num_offsets, num_heads))
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        else:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
            self.cpb_mlp = nn.Sequential(
                nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True), nn.Linear(512, num_heads, bias=False)
            )
            self.qkv = nn.Linear(dim, dim * 3, bias=False)
            # v2 has no key bias: a constant added to every key cancels in softmax.
            self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
            self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
            coords = log_spaced_coords_table(window, pretrained_window)
            self.register_buffer("relative_coords_table", coords, persistent=False)
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        self.attn_drop = dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = dropout(proj_drop)

    @property
    def tokens(self) -> int:
        return self.window[0] * self.window[1]

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(B_, N, C)` windows -> q, k, v each `(B_, heads, N, head_dim)`."""
        if self.version == 2 and self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
            qkv = F.linear(x, self.qkv.weight, bias)
        else:
            qkv = self.qkv(x)
        b, n, _ = x.shape
        qkv = qkv.reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)

    def logit_scale_exp(self) -> torch.Tensor:
        """v2 per-head temperature `(heads, 1, 1)`: exp of the clamped learnable logit scale."""
        return torch.clamp(self.logit_scale, max=LOGIT_SCALE_MAX).exp()

    def scaled_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return `(q', k')` with `q' @ k'^T` the attention logits before bias and mask."""
        if self.version == 1:
            return q * self.scale, k
        q = F.normalize(q, dim=-1) * self.logit_scale_exp()
        return q, F.normalize(k, dim=-1)

    def position_bias(self) -> torch.Tensor:
        """`(heads, N, N)` relative-position bias for one window."""
        if self.version == 1:
            table = self.relative_position_bias_table
        else:
            table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        n = self.tokens
        bias = table[self.relative_position_index.view(-1)].view(n, n, self.num_heads)
        bias = bias.permute(2, 0, 1)
        return 16 * torch.sigmoid(bias) if self.version == 2 else bias.contiguous()

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window={self.window}, heads={self.num_heads}, v{self.version}"


class SwinBlock(nn.Module):
    """One (shifted-)window attention block plus MLP.

    v1 is pre-norm: `x + attn(norm1(x))`; v2 is res-post-norm: `x + norm1(attn(x))`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: Pair,
        shift: Pair,
        version: int = 1,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        pretrained_window: Pair = (0, 0),
        attn_impl: str = "reference",
    ) -> None:
        super().__init__()
        get_attention(attn_impl)  # fail at build time on an unknown name
        self.window, self.shift, self.version, self.attn_impl = window, shift, version, attn_impl
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window, version, qkv_bias, attn_drop, drop, pretrained_window)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        # > 1: sequential attention over this many groups of windows (models.sequential); 1 = batched.
        self.attn_chunks = 1

    def window_attention(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, H, W, C)` -> `(B, H, W, C)`: pad to window multiples, attend (in `attn_chunks` groups of
        windows, by the block's own implementation), crop back."""
        padded, (h, w) = pad_to_windows(x, self.window)
        require_chunks(self.attn_impl, self.attn_chunks)  # never a silent fallback to another implementation
        out = get_attention(self.attn_impl)(padded, self.attn, self.window, self.shift, self.attn_chunks)
        if out.shape[1] != h or out.shape[2] != w:
            out = out[:, :h, :w]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.version == 1:
            x = x + self.drop_path(self.window_attention(self.norm1(x)))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        x = x + self.drop_path(self.norm1(self.window_attention(x)))
        return x + self.drop_path(self.norm2(self.mlp(x)))

    def extra_repr(self) -> str:
        chunks = f", attn_chunks={self.attn_chunks}" if self.attn_chunks > 1 else ""
        return f"window={self.window}, shift={self.shift}, attn_impl={self.attn_impl!r}{chunks}"


class PatchEmbed(nn.Module):
    """`(B, 3, H, W)` -> `(B, H/4, W/4, C)`: non-overlapping 4x4 patches, linear embed, LayerNorm."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """`(B, H, W, C)` -> `(B, H/2, W/2, 2C)`: concatenate 2x2 neighbours, reduce 4C -> 2C.

    v1 normalises before the reduction (LayerNorm(4C)), v2 after it (LayerNorm(2C)).
    """

    def __init__(self, dim: int, version: int = 1) -> None:
        super().__init__()
        self.version = version
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim if version == 1 else 2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        # Channel order (h0,w0), (h1,w0), (h0,w1), (h1,w1) matches the official torch.cat([x0, x1, x2, x3]).
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5).flatten(3)
        if self.version == 1:
            return self.reduction(self.norm(x))
        return self.norm(self.reduction(x))


class SwinStage(nn.Module):
    """A stage: `depth` blocks alternating regular/shifted windows, then an optional patch merging.

    `grad_checkpointing` is None (keep every activation), "stage" (keep only the stage input, recompute the
    whole stage in backward) or "block" (keep each block's input, recompute one block at a time). Both use
    non-reentrant `torch.utils.checkpoint`, which replays the RNG state, so results equal the plain stage.
    """

    def __init__(self, blocks: list[SwinBlock], downsample: PatchMerging | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.grad_checkpointing: str | None = None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing is None or not torch.is_grad_enabled():
            return self._run(x)
        if self.grad_checkpointing == "stage":
            return checkpoint(self._run, x, use_reentrant=False)
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return self.downsample(x) if self.downsample is not None else x
