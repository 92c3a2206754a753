"""swinprof: a compression and profiling workbench for the Swin Transformer (v1 and v2).

The model names below are imported on first use (PEP 562), so `import swinprof` itself is cheap: the command
line's entry (`swinprof.cli._entry`) can then guard the heavy imports (torch) against Ctrl-C.
"""

from swinprof.errors import SwinprofError

__version__ = "0.1.0"

__all__ = ["VARIANTS", "SwinConfig", "SwinTransformer", "SwinprofError", "create_model", "get_variant"]
_LAZY = {"VARIANTS", "SwinConfig", "SwinTransformer", "create_model", "get_variant"}


def __getattr__(name: str):
    if name in _LAZY:
        import swinprof.models as models

        return getattr(models, name)
    raise AttributeError(f"module 'swinprof' has no attribute {name!r}")
