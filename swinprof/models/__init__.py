"""What a network is: config + variant table, v1/v2 blocks, window ops, attention impls, checkpoints."""

from swinprof.models.config import VARIANTS, SwinConfig, Variant, get_variant
from swinprof.models.swin import SwinTransformer, create_model

__all__ = ["VARIANTS", "SwinConfig", "SwinTransformer", "Variant", "create_model", "get_variant"]
