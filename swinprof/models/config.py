"""Model configuration: a frozen dataclass and the variant table.

The table carries the reference numbers of DESIGN.md (params, aten-level GMACs of one image, paper top-1/top-5)
so tests can hold the code to them. Names are short (`swin_s`, `swinv2_b_w8`); the official long names
(`swin_small_patch4_window7_224`) are accepted as aliases.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from swinprof.errors import ConfigError, InvalidResolutionError, UnknownVariantError

# Patch embedding (4) times three 2x patch mergings: inputs must be a multiple of this.
RESOLUTION_MULTIPLE = 32
# Past this a single image's activations run to hundreds of GiB; the bound also keeps shape arithmetic in int64.
MAX_RESOLUTION = 16384


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
        for name in _STAGE_FIELDS:  # TOML and JSON give lists: hold tuples, so the config stays hashable
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_scalars(self)
        _check_stages(self)
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
        """A copy with `changes`; an unknown field name lists the valid ones (ConfigError, not TypeError)."""
        unknown = sorted(set(changes) - set(config_fields()))
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ConfigError(f"unknown model config field {names}; valid fields: {', '.join(config_fields())}")
        return dataclasses.replace(self, **changes)


def config_fields() -> list[str]:
    """Names of the SwinConfig fields (what `create_model(**overrides)` and `[cases.config]` accept)."""
    return [f.name for f in dataclasses.fields(SwinConfig)]


def parse_override(text: str) -> tuple[str, object]:
    """`KEY=VALUE` (a command line's `--model-config`) as `(field, value)` of that field's type: `embed_dim=32`,
    `depths=1,1,2,1`, `mlp_ratio=2.5`, `qkv_bias=false`. The value's range is checked when a config is built."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise ConfigError(f"model config override {text!r}: write KEY=VALUE, e.g. depths=1,1,2,1")
    kinds = {f.name: str(f.type) for f in dataclasses.fields(SwinConfig)}
    if key == "img_size":
        raise ConfigError("model config override: set the resolution with --res, not img_size")
    if key not in kinds:
        raise ConfigError(f"unknown model config field {key!r}; valid fields: {', '.join(config_fields())}")
    kind = kinds[key]
    try:
        if kind.startswith("tuple"):
            return key, tuple(int(part) for part in raw.split(","))
        if kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return key, raw.lower() == "true"
        return key, int(raw) if kind == "int" else float(raw)
    except ValueError:
        examples = {"bool": "true or false", "int": "an integer", "float": "a number"}
        example = examples.get(kind, "integers, e.g. 2,2,6,2")
        raise ConfigError(f"model config override {text!r}: {key} takes {example}") from None


# Field rules, checked on every construction so a bad value fails with its valid range before any model is built.
_STAGE_FIELDS = ("depths", "num_heads", "pretrained_window_sizes")
_MIN_INT = {"patch_size": 1, "in_chans": 1, "num_classes": 0, "embed_dim": 1, "window_size": 1}
_RATES = ("drop_rate", "attn_drop_rate", "drop_path_rate")  # probabilities: [0, 1)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(name: str, rule: str, value) -> ConfigError:
    return ConfigError(f"model config: {name} must be {rule}, got {value!r}")


def _check_scalars(c: SwinConfig) -> None:
    if c.version not in (1, 2) or not _is_int(c.version):
        raise _bad("version", "1 or 2", c.version)
    for name, low in _MIN_INT.items():
        value = getattr(c, name)
        if not _is_int(value) or value < low:
            raise _bad(name, f"an integer >= {low}", value)
    if (
        isinstance(c.mlp_ratio, bool)
        or not isinstance(c.mlp_ratio, int | float)
        or not (math.isfinite(c.mlp_ratio) and c.mlp_ratio > 0)
    ):
        raise _bad("mlp_ratio", "a finite number > 0", c.mlp_ratio)
    for name in _RATES:
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise _bad(name, "a number in [0, 1)", value)
    if not isinstance(c.qkv_bias, bool):
        raise _bad("qkv_bias", "true or false", c.qkv_bias)


def _check_stages(c: SwinConfig) -> None:
    for name, low in (("depths", 1), ("num_heads", 1), ("pretrained_window_sizes", 0)):
        value = getattr(c, name)
        if not isinstance(value, tuple) or not value or not all(_is_int(v) and v >= low for v in value):
            raise _bad(name, f"a non-empty list of integers >= {low}", value)
    if len(c.depths) != len(c.num_heads):
        raise ConfigError(
            f"model config: depths and num_heads must have one entry per stage, got {len(c.depths)} and "
            f"{len(c.num_heads)}"
        )
    if len(c.pretrained_window_sizes) < len(c.depths):
        raise _bad("pretrained_window_sizes", f"a list of at least {len(c.depths)} entries (one per stage)",
                   c.pretrained_window_sizes)  # fmt: skip
    for i, heads in enumerate(c.num_heads):
        dim = c.embed_dim * 2**i
        if dim % heads:
            raise ConfigError(
                f"model config: stage {i + 1} has {dim} channels (embed_dim * 2^{i}), not divisible by its "
                f"{heads} heads: choose num_heads that divide embed_dim * 2^stage"
            )


def validate_resolution(img_size: int, patch_size: int = 4, num_stages: int = 4) -> None:
    """Raise InvalidResolutionError unless every patch merging sees an even feature map."""
    multiple = patch_size * 2 ** (num_stages - 1)
    if not _is_int(img_size) or img_size < multiple or img_size % multiple or img_size > MAX_RESOLUTION:
        raise InvalidResolutionError(
            f"resolution {img_size!r} is not supported: use a positive multiple of {multiple} up to "
            f"{MAX_RESOLUTION} (e.g. 224, 256, 384, 512)"
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

# Small networks swinprof trains itself (`swinprof train-digits`) on scikit-learn's bundled 8x8 handwritten digits,
# upsampled to 32x32 (the smallest input the model takes): patch 4 makes one token per original digit pixel, an 8x8
# map that stage 1 attends in shifted 4x4 windows, then patch merging to 4x4 for stage 2. The images are written
# at 32x32, so the eval pipeline is Resize(32) (a no-op), CenterCrop(32), ToTensor, ImageNet Normalize: crop_pct 1.
# No paper numbers: their accuracy is what `swinprof train-digits` measures (docs/trained-network.md).
_DIGITS = dict(img_size=32, patch_size=4, num_classes=10, embed_dim=32, depths=(2, 2), num_heads=(2, 4),
               window_size=4, drop_path_rate=0.05, pretrained_window_sizes=(0, 0))  # fmt: skip
DIGITS_PRETRAIN = "trained by swinprof on sklearn digits"
_VARIANT_LIST += [
    Variant("swin_digits", SwinConfig(version=1, **_DIGITS), 0.14, 0.00357, pretrain=DIGITS_PRETRAIN, crop_pct=1.0),
    Variant("swinv2_digits", SwinConfig(version=2, **_DIGITS), 0.15, 0.00407, pretrain=DIGITS_PRETRAIN, crop_pct=1.0),
]

VARIANTS: dict[str, Variant] = {v.name: v for v in _VARIANT_LIST}
_ALIASES: dict[str, str] = {alias: v.name for v in _VARIANT_LIST for alias in v.aliases}


def get_variant(name: str) -> Variant:
    """Look a variant up by short or official name; unknown names list the valid ones."""
    key = _ALIASES.get(name, name)
    if key not in VARIANTS:
        raise UnknownVariantError(f"unknown model variant {name!r}; choose one of: {', '.join(VARIANTS)}")
    return VARIANTS[key]
