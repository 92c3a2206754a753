"""Argument validation shared by every subcommand: one place for the rules, one line per bad value.

The `type=` functions below run while argparse reads the command line, so a bad value stops the command before
any work, with a message naming the option and its valid range or choices. Library errors raised inside them
(an unavailable device, an output path that cannot be written) are turned into argparse's error, which the entry
point prints as one line with exit code 2. `check_memory` is the resource bound every command that builds a model
applies once its arguments are known.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable

from swinprof.errors import SwinprofError

TypeFn = Callable[[str], object]


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def int_at_least(low: int, high: int | None = None) -> TypeFn:
    """An integer in `[low, high]` (no upper bound when `high` is None)."""

    def check(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            rule = f"between {low} and {high}" if high is not None else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    check.__name__ = f"int_at_least_{low}"
    return check


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def seed(text: str) -> int:
    """A seed every consumer takes: 0 to `measure.seed.MAX_SEED` (torch's generators stop at 2^64 - 1 and
    commands add offsets to the seed)."""
    from swinprof.measure.seed import MAX_SEED, SEED_RANGE

    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be {SEED_RANGE}, got {text!r}")
    return value


def finite_float(low: float | None = None, high: float | None = None, open_low: bool = False,
                 open_high: bool = False) -> TypeFn:  # fmt: skip
    """A finite number (no nan/inf) within the given bounds (closed unless `open_*`)."""
    lo_text, hi_text = ("-inf" if low is None else f"{low:g}"), ("inf" if high is None else f"{high:g}")
    rule = f"a finite number in {'(' if open_low else '['}{lo_text}, {hi_text}{')' if open_high else ']'}"

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        too_low = low is not None and (value <= low if open_low else value < low)
        too_high = high is not None and (value >= high if open_high else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return check


def resolution(text: str) -> int:
    """An input side in pixels: a positive multiple of 32 up to the library's maximum (its message on error)."""
    from swinprof.models.config import validate_resolution

    value = _int(text)
    _library(validate_resolution, value)
    return value


def variant(text: str) -> str:
    """A registered model variant, by short or official name (kept as given)."""
    from swinprof.models.config import get_variant

    _library(get_variant, text)
    return text


def model_config(text: str) -> tuple[str, object]:
    """`KEY=VALUE`: one field of the model config, typed (`models.config.parse_override`)."""
    from swinprof.models.config import parse_override

    return _library(parse_override, text)


def add_model_config(p: argparse.ArgumentParser) -> None:
    """`--model-config KEY=VALUE` (repeatable): what `model_overrides` turns into `create_model` overrides."""
    p.add_argument("--model-config", metavar="KEY=VALUE", type=model_config, action="append", default=[],
                   help="override a field of the variant's config (repeatable), e.g. --model-config depths=1,1,2,1 "
                   "--model-config embed_dim=48 (random weights: a checkpoint must match the config)")  # fmt: skip


def model_overrides(name: str, img_size: int | None, pairs: list[tuple[str, object]]) -> dict:
    """`--model-config` pairs as create_model overrides, checked together against the variant before any work
    (e.g. depths and num_heads of different lengths: one ConfigError line)."""
    from swinprof.models.config import get_variant

    overrides = dict(pairs)
    if overrides:
        get_variant(name).config.replace(**overrides, **({"img_size": img_size} if img_size else {}))
    return overrides


def _library(check: Callable[[object], object], text: object):
    """Run a library check inside argparse: its one-line message becomes the option's error."""
    try:
        return check(text)
    except SwinprofError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_fraction_threshold(text: str) -> float:
    """`5%` or `0.05` -> 0.05, strictly between 0 and 1 (a bare number >= 1 is ambiguous and refused)."""
    t = str(text).strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise SwinprofError(f"threshold {text!r} not understood: give a percentage between 0% and 100% like 5%, or "
                            "a fraction like 0.05")  # fmt: skip
    return value


def fraction_threshold(text: str) -> float:
    """A latency threshold (`parse_fraction_threshold`); a bad one is the option's one-line error."""
    return _library(parse_fraction_threshold, text)


def accuracy_limit(unit: str) -> TypeFn:
    """An accuracy limit in `unit` (`dB`: `1dB`; `points`: `1pt`, below 100), by `track.fidelity.parse_limit`;
    a bad one (`abc`, `nan`, `200%`) is the option's one-line error."""

    def check(text: str) -> float:
        from swinprof.track.fidelity import parse_limit

        return _library(lambda t: parse_limit(t, unit), text)

    check.__name__ = f"accuracy_limit_{unit}"
    return check


def device_name(text: str) -> str:
    """`cpu`, `cuda` or `cuda:N`, present on this machine (`measure.device.resolve_device` decides)."""
    from swinprof.measure.device import resolve_device

    return str(_library(resolve_device, text))


def name_list(choices: Callable[[], Iterable[str]], what: str) -> TypeFn:
    """A comma-separated, non-empty list of names, each one of `choices()` (read when the option is parsed)."""

    def check(text: str) -> list[str]:
        names = [s.strip() for s in text.split(",") if s.strip()]
        valid = list(choices())
        if not names:
            raise argparse.ArgumentTypeError(f"give at least one {what}; choose one of: {', '.join(valid)}")
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {what} {unknown[0]!r}; choose one of: {', '.join(valid)}")
        return list(dict.fromkeys(names))

    return check


def quantization_method(text: str) -> str:
    """A registered quantization method other than `none` (the registry is read when the option is parsed, so
    building the parser imports no runtime)."""
    from swinprof.optimize.methods import methods

    return name_list(lambda: [m for m in methods() if m != "none"], "quantization method")(text)[0]


def batch_sizes(text: str) -> tuple[int, ...]:
    """One or more comma-separated batch sizes of at least 1 (`1,8`), duplicates dropped, order kept."""
    rule = f"batch sizes must be comma-separated integers of at least 1, e.g. 1,8; got {text!r}"
    try:
        sizes = tuple(dict.fromkeys(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(rule) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(rule)
    return sizes


def attention_names(text: str) -> list[str]:
    """Comma-separated attention implementations from the registry."""
    from swinprof.models.attention.registry import available_attention

    return name_list(available_attention, "attention implementation")(text)


def attention_name(text: str) -> str:
    """One attention implementation from the registry."""
    names = attention_names(text)
    if len(names) != 1:
        raise argparse.ArgumentTypeError(f"give one attention implementation, not {len(names)} ({text!r})")
    return names[0]


def existing_file(text: str) -> str:
    """A path to an existing regular file."""
    if not text or not os.path.isfile(text):
        kind = "is a folder, not a file" if text and os.path.isdir(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {kind}: give the path of an existing file")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not readable")
    return text


def existing_dir(text: str) -> str:
    """A path to an existing folder."""
    if not text or not os.path.isdir(text):
        kind = "is a file, not a folder" if text and os.path.exists(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {kind}: give the path of an existing folder")
    return text


def output_dir(text: str) -> str:
    """A report folder that can be published (it is not a file; its nearest existing parent is writable).
    Nothing is created here: the report's files appear together, with their folder, when it is published."""
    from swinprof.files import check_output_dir

    if not text:
        raise argparse.ArgumentTypeError("give a folder name")
    _library(check_output_dir, text)
    return text


def output_file(text: str) -> str:
    """A single output file that can be written atomically (not a folder; its folder can be made). Not created."""
    from swinprof.files import check_output_file

    if not text:
        raise argparse.ArgumentTypeError("give a file name")
    _library(check_output_file, text)
    return text


def estimated_bytes(name: str, img_size: int | None, batch: int, *, dtype: str = "fp32", attn: str = "reference",
                    overrides: dict | None = None, train: bool = False, copies: int = 1) -> int:  # fmt: skip
    """Estimated memory of one request: `copies` models' weights (e.g. ours and the transformers reference held
    at once), the input and the activation peak, from the meta-device footprint of `profile.footprint`."""
    from swinprof.profile.footprint import estimate_footprint

    fp = estimate_footprint(name, img_size, batch, dtype, attn, overrides, train)
    return fp.params_bytes * copies + fp.input_bytes + fp.activation_bytes


def check_memory(name: str, img_size: int | None, batch: int, *, what: str = "this run",
                 hint: str = "use a smaller --batch or --res", device: str = "cpu", **request) -> None:  # fmt: skip
    """Refuse, before any work, a request whose estimated memory (`estimated_bytes`, tensors only, so anything
    refused could not have run) exceeds what `device` has available."""
    from swinprof.measure.resources import require_memory

    side = f"{img_size}x{img_size}" if img_size else "default resolution"
    needed = estimated_bytes(name, img_size, batch, **request)
    require_memory(needed, f"{what} ({name}, {side}, batch {batch})", hint, device=str(device))
