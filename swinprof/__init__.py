"""swinprof: a compression and profiling workbench for the Swin Transformer (v1 and v2)."""

from swinprof.errors import SwinprofError
from swinprof.models import VARIANTS, SwinConfig, SwinTransformer, create_model, get_variant

__version__ = "0.1.0"

__all__ = ["VARIANTS", "SwinConfig", "SwinTransformer", "SwinprofError", "create_model", "get_variant"]
