"""The exception hierarchy. Every message names what to do; the CLI prints it as one line, exit 2."""

from __future__ import annotations


class SwinprofError(Exception):
    """Base class: a user-facing error with a message that says what to do."""


class UnknownVariantError(SwinprofError, KeyError):
    """A model variant name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidResolutionError(SwinprofError, ValueError):
    """An input resolution the network cannot take."""


class UnknownAttentionError(SwinprofError, KeyError):
    """An `attn_impl` name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class CheckpointError(SwinprofError):
    """A checkpoint that is missing, corrupt, or does not match the model."""


class MissingExtraError(SwinprofError, ImportError):
    """An optional dependency that is not installed; the message names the pip extra."""


class DeviceUnavailableError(SwinprofError, RuntimeError):
    """A device (e.g. CUDA) or hardware feature that this machine does not have."""


class DataPathError(SwinprofError, FileNotFoundError):
    """An image, folder or output path that does not exist or cannot be used."""


def require_extra(module: str, extra: str, purpose: str):
    """Import `module` or raise MissingExtraError naming `pip install 'swinprof[extra]'`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the '{module}' package: pip install 'swinprof[{extra}]' ({exc})"
        ) from exc


class InvalidOptionError(SwinprofError, ValueError):
    """A command-line option value outside its valid range (e.g. `--iters 0`)."""


class MemoryOptionError(SwinprofError, ValueError):
    """A memory-optimisation option (checkpointing, sequential attention, ZeRO, budget) that cannot work."""


class RecipeError(SwinprofError, ValueError):
    """A recipe file that is missing, unreadable, or does not match the recipe schema."""


class SuiteError(SwinprofError, ValueError):
    """A benchmark suite file that is missing, malformed, or names unknown models/recipes."""


class ResultsError(SwinprofError, ValueError):
    """A benchmark results or history file that is missing, corrupt, of an unsupported schema, or mismatched."""


class ConfigError(SwinprofError, ValueError):
    """A model configuration field outside its valid range, or a field that does not exist."""


class ResourceError(SwinprofError, MemoryError):
    """A request whose memory (or other resource) need, estimated before any work, exceeds what this machine has."""


class UsageError(SwinprofError, ValueError):
    """A command line that argparse refuses (unknown option, bad value type); printed as one line."""


def is_out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or torch's allocation failure (CUDA's OutOfMemoryError, the CPU allocator's RuntimeError):
    what an up-front estimate could not foresee (other processes, allocator slack)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower()
