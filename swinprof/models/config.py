"""Model configuration: a frozen dataclass and the variant table.

The table carries the reference numbers of DESIGN.md (params, aten-level GMACs of one image, paper top-1/top-5)
so tests can hold the code to them. Names are short (`swin_s`, `swinv2_b_w8`); the official long names
(`swin_small_patch4_window7_224`) are accepted as aliases.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from swinprof.errors import InvalidResolutionError, UnknownVariantError

# Patch embedding (4) times three 2x patch mergings: inputs must be a multiple of this.
RESOLUTION_MULTIPLE = 32


@dataclass(frozen=True)
class SwinConfig:
    """Everything needed to build a Swin v1 or v2 network."""

    version: int = 1
    img_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    # v2 only: window size the continuous position bias was pretrained with, per stage (0 = this window).
    pretrained_window_sizes: tuple[int, ...] = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"version must be 1 or 2, got {self.version}")
        if len(self.depths) != len(self.num_heads):
            raise ValueError("depths and num_heads must have one entry per stage")
        validate_resolution(self.img_size, self.patch_size, len(self.depths))

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def num_features(self) -> int:
        """Channels after the last stage: `(B, H/32, W/32, num_features)`."""
        return self.embed_dim * 2 ** (self.num_stages - 1)

    def stage_resolution(self, stage: int, img_size: int | None = None) -> int:
        """Side of the feature map that stage `stage` (0-based) attends over."""
        return (img_size or self.img_size) // self.patch_size // 2**stage

    def replace(self, **changes) -> SwinConfig:
        return dataclasses.replace(self, **changes)


def validate_resolution(img_size: int, patch_size: int = 4, num_stages: int = 4) -> None:
    """Raise InvalidResolutionError unless every patch merging sees an even feature map."""
    multiple = patch_size * 2 ** (num_stages - 1)
    if not isinstance(img_size, int) or img_size < multiple or img_size % multiple:
        raise InvalidResolutionError(
            f"resolution {img_size!r} is not supported: use a positive multiple of {multiple} (e.g. 224, 256, 384, 512)"
        )


@dataclass(frozen=True)
class Variant:
    """A named configuration plus the reference numbers it is held to."""

    name: str
    config: SwinConfig
    params_m: float  # millions of parameters (non-persistent buffers excluded)
    gmacs: float  # aten-level multiply-adds of one image at config.img_size, in billions
    top1: float | None = None
    top5: float | None = None
    pretrain: str = "ImageNet-1K"
    crop_pct: float = 0.9  # eval resize = floor(img_size / crop_pct), then center crop img_size
    official_name: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def display_name(self) -> str:
        """Paper-style name: `Swin-S`, `SwinV2-B (w8)`, `Swin-B (384)`."""
        size = self.name.split("_")[1].upper()
        if self.config.version == 2:
            return f"SwinV2-{size} (w{self.config.window_size})"
        suffix = f" ({self.config.img_size})" if self.config.img_size != 224 else ""
        return f"Swin-{size}{suffix}"


_T = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
_S = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
_B = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
_L = dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48))


def _v1(name, arch, img, win, params, gmacs, top1, top5, official, pretrain="ImageNet-1K", crop=0.9):
    cfg = SwinConfig(version=1, img_size=img, window_size=win, **arch)
    return Variant(name, cfg, params, gmacs, top1, top5, pretrain, crop, official, (official,))


def _v2(name, arch, win, params, gmacs, top1, top5, official):
    cfg = SwinConfig(version=2, img_size=256, window_size=win, **arch)
    return Variant(name, cfg, params, gmacs, top1, top5, "ImageNet-1K", 0.9, official, (official,))


# fmt: off
_VARIANT_LIST = [
    _v1("swin_t", _T, 224, 7, 28.29, 4.49, 81.2, 95.5, "swin_tiny_patch4_window7_224"),
    _v1("swin_s", _S, 224, 7, 49.61, 8.74, 83.2, 96.2, "swin_small_patch4_window7_224"),
    _v1("swin_b", _B, 224, 7, 87.77, 15.43, 83.5, 96.5, "swin_base_patch4_window7_224"),
    _v1("swin_b_384", _B, 384, 12, 87.90, 47.08, 84.5, 97.0, "swin_base_patch4_window12_384", crop=1.0),
    _v1("swin_l", _L, 224, 7, 196.53, 34.48, 86.3, None, "swin_large_patch4_window7_224_22kto1k",
        pretrain="ImageNet-22K"),
    _v1("swin_l_384", _L, 384, 12, 196.74, 103.92, 87.3, None, "swin_large_patch4_window12_384_22kto1k",
        pretrain="ImageNet-22K", crop=1.0),
    _v2("swinv2_t_w8", _T, 8, 28.35, 5.94, 81.8, None, "swinv2_tiny_patch4_window8_256"),
    _v2("swinv2_s_w8", _S, 8, 49.73, 11.55, 83.7, None, "swinv2_small_patch4_window8_256"),
    _v2("swinv2_b_w8", _B, 8, 87.92, 20.33, 84.2, None, "swinv2_base_patch4_window8_256"),
    _v2("swinv2_t_w16", _T, 16, 28.35, 6.66, 82.8, None, "swinv2_tiny_patch4_window16_256"),
    _v2("swinv2_s_w16", _S, 16, 49.73, 12.78, 84.1, None, "swinv2_small_patch4_window16_256"),
    _v2("swinv2_b_w16", _B, 16, 87.92, 21.97, 84.6, None, "swinv2_base_patch4_window16_256"),
]
# fmt: on

VARIANTS: dict[str, Variant] = {v.name: v for v in _VARIANT_LIST}
_ALIASES: dict[str, str] = {alias: v.name for v in _VARIANT_LIST for alias in v.aliases}


def get_variant(name: str) -> Variant:
    """Look a variant up by short or official name; unknown names list the valid ones."""
    key = _ALIASES.get(name, name)
    if key not in VARIANTS:
        raise UnknownVariantError(f"unknown model variant {name!r}; choose one of: {', '.join(VARIANTS)}")
    return VARIANTS[key]
