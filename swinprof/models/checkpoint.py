"""Checkpoint I/O: official microsoft/Swin-Transformer, timm and torchvision layouts, `.pth` and `.safetensors`.

Our parameter names are the official ones, so an official `.pth` (state dict under `model`) loads with strict
key checking once its non-persistent buffers are dropped. Other layouts go through pure conversion functions
(`timm_to_official`, `torchvision_to_official`) that only rename and split tensors. Files are read with
`torch.load(weights_only=True)` or safetensors: never arbitrary unpickling.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import zipfile
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from swinprof.errors import CheckpointError, DataPathError
from swinprof.measure.resources import available_memory_bytes

StateDict = dict[str, torch.Tensor]

# Buffers the official code saves but we recompute from the window size (non-persistent here).
DERIVED_BUFFER_SUFFIXES = ("relative_position_index", "attn_mask", "relative_coords_table", "k_bias")
# Containers under which training scripts nest the weights, in order of preference.
NESTING_KEYS = ("model", "state_dict", "model_ema", "module")
MAX_LISTED_KEYS = 5
# Bounds on what a checkpoint file may unfold into (see `check_archive` and `check_structure`).
MAX_INFLATE_RATIO = 20  # deflated float weights shrink ~1.1x; a record inflating 20x is not weights
INFLATE_SLACK = 16 * 2**20  # small records (the pickle itself) may compress well
MAX_RECORDS = 100_000
MAX_DEPTH = 32
MAX_CONTAINERS = 1_000_000


# ---------------------------------------------------------------------------------------------- reading


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """Tensors of a `.pth`/`.pt`/`.bin` or `.safetensors` file, unwrapped from `model`/`state_dict` nesting.

    Hostile files are refused before they can cost much: a zip archive whose records would inflate far beyond
    their compressed size (or beyond the memory available), and containers that hold themselves or nest
    without end, are one CheckpointError.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataPathError(f"checkpoint file {path!r} does not exist")
    if path.endswith(".safetensors"):
        raw = _read_safetensors(path)
    else:
        check_archive(path)
        raw = _read_torch(path)
    check_structure(raw, path)
    state_dict = _unwrap(raw, path)
    check_finite(state_dict, path)
    return state_dict


def check_archive(path: str) -> None:
    """Inspect a zip-format `.pth`'s central directory (sizes only, nothing inflated) before `torch.load`.

    `torch.save` stores records uncompressed; a deflated record that inflates more than MAX_INFLATE_RATIO times
    (past INFLATE_SLACK bytes) is a bomb, and the total must fit in the memory available.
    """
    if not zipfile.is_zipfile(path):
        return  # legacy (pre-1.6) format: plain pickle plus raw storages, read no larger than the file
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path!r} is not a PyTorch checkpoint (damaged zip archive: {exc})") from exc
    if len(records) > MAX_RECORDS:
        raise CheckpointError(f"{path!r} holds {len(records)} zip records (at most {MAX_RECORDS}): not a checkpoint")
    for r in records:
        if r.file_size > INFLATE_SLACK and r.file_size > MAX_INFLATE_RATIO * max(r.compress_size, 1):
            raise CheckpointError(
                f"{path!r}: record {r.filename!r} would inflate {r.compress_size:,} bytes to {r.file_size:,} "
                f"(more than {MAX_INFLATE_RATIO}x); refusing a compression bomb (re-save it with torch.save)"
            )
    total = sum(r.file_size for r in records)
    available = available_memory_bytes()
    if available is not None and total > available:
        raise CheckpointError(
            f"{path!r} unpacks to {total / 2**30:,.1f} GiB but {available / 2**30:,.1f} GiB of memory is available"
        )


def check_structure(raw: object, path: str) -> None:
    """Walk the loaded containers once (each visited once): refuse cycles, nesting beyond MAX_DEPTH and more
    than MAX_CONTAINERS containers, so nothing that reads the checkpoint afterwards can loop or explode."""
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[object, int, bool]] = [(raw, 0, False)]
    while stack:
        obj, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(obj))
            done.add(id(obj))
            continue
        if not isinstance(obj, Mapping | list | tuple | set | frozenset) or id(obj) in done:
            continue
        if id(obj) in on_path:
            raise CheckpointError(f"{path!r} contains a container that holds itself (a cycle): not a checkpoint")
        if depth > MAX_DEPTH or len(done) + len(on_path) >= MAX_CONTAINERS:
            raise CheckpointError(
                f"{path!r} nests containers deeper than {MAX_DEPTH} levels or holds more than {MAX_CONTAINERS:,}: "
                "not a checkpoint"
            )
        on_path.add(id(obj))
        stack.append((obj, depth, True))
        children = list(obj.values()) if isinstance(obj, Mapping) else list(obj)
        stack.extend((child, depth + 1, False) for child in children)


def _read_safetensors(path: str) -> StateDict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path!r} is not a valid safetensors file ({exc})") from exc


def _read_torch(path: str) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # not a pickle at all (e.g. "Unsupported operand")
            raise CheckpointError(f"{path!r} is not a PyTorch checkpoint (unreadable pickle data)") from exc
        # weights_only refuses arbitrary objects; say so rather than suggesting weights_only=False.
        raise CheckpointError(
            f"{path!r} holds objects other than tensors and plain containers; refusing to unpickle it "
            f"(save a plain state dict or a .safetensors file)"
        ) from exc
    except Exception as exc:  # untrusted bytes: whatever the unpickler trips over, the file is not a checkpoint
        raise CheckpointError(f"{path!r} is not a PyTorch checkpoint ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _unwrap(raw: object, path: str) -> StateDict:
    obj = raw
    while isinstance(obj, Mapping):
        nested = next((obj[k] for k in NESTING_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is None:
            break
        obj = nested
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path!r} does not contain a state dict (found {type(obj).__name__})")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path!r} contains no tensors: it is not a model checkpoint")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


# ---------------------------------------------------------------------------------------------- layouts


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """`torchvision`, `timm` or `official` (microsoft/Swin-Transformer)."""
    keys = set(state_dict)
    if any(k.startswith("features.") for k in keys):
        return "torchvision"
    if "head.fc.weight" in keys:
        return "timm"
    # timm >= 0.9 moved patch merging to the start of the next stage: layers.1.downsample but no layers.0's.
    has_first = any(k.startswith("layers.0.downsample.") for k in keys)
    has_later = any(k.startswith("layers.1.downsample.") for k in keys)
    if has_later and not has_first:
        return "timm"
    return "official"


def drop_derived_buffers(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove buffers we recompute (relative_position_index, attn_mask, relative_coords_table, k_bias)."""
    return {k: v for k, v in state_dict.items() if not k.endswith(DERIVED_BUFFER_SUFFIXES)}


def timm_to_official(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """timm layout -> official: `head.fc` -> `head`, downsample moved back to the end of the previous stage."""
    moved_downsample = detect_layout(state_dict) == "timm" and not any(
        k.startswith("layers.0.downsample.") for k in state_dict
    )
    out: StateDict = {}
    for key, value in drop_derived_buffers(state_dict).items():
        key = re.sub(r"^head\.fc\.", "head.", key)
        match = re.match(r"^layers\.(\d+)\.downsample\.(.*)$", key)
        if match and moved_downsample:
            key = f"layers.{int(match.group(1)) - 1}.downsample.{match.group(2)}"
        out[key] = value
    return out


_TV_BLOCK_RENAMES = {"mlp.0.": "mlp.fc1.", "mlp.3.": "mlp.fc2."}


def torchvision_to_official(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """torchvision layout -> official.

    torchvision nests stages in `features`: `features.0` is the patch embed (conv at .0, LayerNorm at .2),
    odd indices `2i+1` hold stage i's blocks, even indices `2i+2` its patch merging. v2's full `qkv.bias`
    becomes `q_bias`/`v_bias` (its key third is unused).
    """
    out: StateDict = {}
    for key, value in drop_derived_buffers(state_dict).items():
        new = _torchvision_key(key)
        if new.endswith("attn.qkv.bias") and _is_v2_torchvision(state_dict):
            dim = value.shape[0] // 3
            prefix = new.removesuffix("qkv.bias")
            out[prefix + "q_bias"] = value[:dim]
            out[prefix + "v_bias"] = value[2 * dim :]
            continue
        out[new] = value
    return out


def _is_v2_torchvision(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(k.endswith("attn.logit_scale") for k in state_dict)


def _torchvision_key(key: str) -> str:
    if key.startswith("features.0.0."):
        return "patch_embed.proj." + key.removeprefix("features.0.0.")
    if key.startswith("features.0.2."):
        return "patch_embed.norm." + key.removeprefix("features.0.2.")
    match = re.match(r"^features\.(\d+)\.(.*)$", key)
    if not match:
        return key  # norm.*, head.*
    index, rest = int(match.group(1)), match.group(2)
    if index % 2 == 0:  # patch merging after stage index/2 - 1
        return f"layers.{index // 2 - 1}.downsample.{rest}"
    block, _, inner = rest.partition(".")
    for old, new in _TV_BLOCK_RENAMES.items():
        if inner.startswith(old):
            inner = new + inner.removeprefix(old)
    return f"layers.{(index - 1) // 2}.blocks.{block}.{inner}"


def to_official(state_dict: Mapping[str, torch.Tensor], layout: str = "auto") -> StateDict:
    """Convert any supported layout to official names (derived buffers dropped)."""
    layout = detect_layout(state_dict) if layout == "auto" else layout
    if layout == "timm":
        return timm_to_official(state_dict)
    if layout == "torchvision":
        return torchvision_to_official(state_dict)
    if layout == "official":
        return drop_derived_buffers(state_dict)
    raise CheckpointError(f"unknown checkpoint layout {layout!r}; choose auto, official, timm or torchvision")


# ---------------------------------------------------------------------------------------------- resizing


def resize_bias_table(table: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """Bicubically resize a v1 `((2h-1)(2w-1), heads)` bias table to another window (as timm does)."""
    old_len, heads = table.shape
    old_side = math.isqrt(old_len)
    if old_side * old_side != old_len:
        raise CheckpointError(f"relative_position_bias_table of {old_len} rows is not from a square window")
    new_h, new_w = 2 * window[0] - 1, 2 * window[1] - 1
    grid = table.T.reshape(1, heads, old_side, old_side).float()
    resized = F.interpolate(grid, size=(new_h, new_w), mode="bicubic", align_corners=False)
    return resized.reshape(heads, new_h * new_w).T.contiguous().to(table.dtype)


def resize_tables_for(model: nn.Module, state_dict: StateDict) -> StateDict:
    """Resize every bias table whose window differs from the model's block at the same name."""
    out = dict(state_dict)
    for name, module in model.named_modules():
        key = f"{name}.relative_position_bias_table"
        table = getattr(module, "relative_position_bias_table", None)
        if key in out and table is not None and out[key].shape != table.shape and _resizable(out[key], table):
            out[key] = resize_bias_table(out[key], module.window)
    return out


def _resizable(saved: torch.Tensor, ours: torch.Tensor) -> bool:
    """A `(rows, heads)` float table with our head count; anything else is left for the shape check to report."""
    return saved.ndim == 2 and saved.numel() > 0 and saved.shape[1] == ours.shape[1] and saved.is_floating_point()


# ---------------------------------------------------------------------------------------------- loading


def check_compatible(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointError listing the first missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    mistyped = [
        f"{k} {state_dict[k].dtype} vs model {v.dtype}"
        for k, v in expected.items()
        if k in state_dict and v.is_floating_point() and not state_dict[k].is_floating_point()
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched),
                         ("dtype mismatch", mistyped)):  # fmt: skip
        if items:
            problems.append(f"{len(items)} {label}: {_listed(items)}")
    if problems:
        raise CheckpointError(
            "checkpoint does not match the model (is it the right variant/resolution?): " + "; ".join(problems)
        )


def _listed(items: list[str]) -> str:
    more = f" (+{len(items) - MAX_LISTED_KEYS} more)" if len(items) > MAX_LISTED_KEYS else ""
    return ", ".join(items[:MAX_LISTED_KEYS]) + more


def check_finite(state_dict: Mapping[str, torch.Tensor], path: str = "checkpoint") -> None:
    """Raise CheckpointError naming the first tensors holding NaN or inf (the model's output would be NaN)."""
    bad = [k for k, t in state_dict.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{path!r} holds NaN or inf values in {len(bad)} tensors ({_listed(bad)}): damaged")


def load_state_dict_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], layout: str = "auto") -> None:
    """Convert, resize bias tables, check names, shapes and dtypes, then `load_state_dict(strict=True)`."""
    converted = resize_tables_for(model, to_official(state_dict, layout))
    check_compatible(model, converted)
    model.load_state_dict(converted, strict=True)


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, layout: str = "auto", state_dict: StateDict | None = None
) -> nn.Module:
    """Load a checkpoint file of any supported layout into `model` (in place); returns the model.

    `state_dict`: the file's tensors when they were already read with `read_state_dict(path)`.
    """
    state_dict = read_state_dict(path) if state_dict is None else state_dict
    try:
        load_state_dict_into(model, state_dict, layout)
    except CheckpointError as exc:
        raise CheckpointError(f"{os.fspath(path)!r}: {exc}") from exc
    return model


def save_checkpoint(model: nn.Module, path: str | os.PathLike) -> None:
    """Save our state dict: `.safetensors`, or `.pth` as `{"model": state_dict}` like the official files."""
    path = os.fspath(path)
    state_dict = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if path.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state_dict, path)
    else:
        torch.save({"model": state_dict}, path)
