"""The Swin adapter: build a registered variant (a meta twin for counting, a real one for timing) and profile it."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from swinprof.errors import DataPathError, DeviceUnavailableError, InvalidOptionError
from swinprof.measure.device import resolve_device, resolve_dtype
from swinprof.measure.environment import busy_warning, environment, load_average
from swinprof.measure.inputs import DEFAULT_SEED, seeded_images
from swinprof.models import create_model, get_variant
from swinprof.models.attention.registry import unavailable_reason
from swinprof.models.config import validate_resolution
from swinprof.models.preprocess import build_transform
from swinprof.profile.collect import Counted, ProfileOptions, Progress, count_side, profile_model, profile_roofline
from swinprof.profile.grouping import swin_stages
from swinprof.profile.info import model_info, preprocessing_table
from swinprof.profile.macs import count_costs
from swinprof.profile.windows import window_gemm_notes
from swinprof.report.document import Report


def _check_settings(name: str, res: int | None, device: str, dtype: str, attn: str):
    variant = get_variant(name)
    res = variant.config.img_size if res is None else res
    validate_resolution(res, variant.config.patch_size, variant.config.num_stages)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    reason = unavailable_reason(attn, dev, dt)
    if reason:
        raise DeviceUnavailableError(f"attention {attn!r} cannot run on {dev.type}/{dtype}: {reason}")
    return variant, res, dev, dt


def profile_swin(
    name: str,
    res: int | None = None,
    batch: int = 1,
    dtype: str = "fp32",
    device: str = "cpu",
    attn: str = "reference",  # one implementation, or several comma-separated for side-by-side rooflines
    weights: str | None = None,
    threads: int | None = None,
    options: ProfileOptions | None = None,
    progress: Progress | None = None,
) -> Report:
    """Every table of `swinprof profile` for variant `name` at `res` x `res` (default: the variant's)."""
    start = time.perf_counter()
    if batch < 1:
        raise InvalidOptionError(f"batch must be >= 1, got {batch}")
    attns = [a.strip() for a in attn.split(",") if a.strip()]
    if not attns:
        raise InvalidOptionError("--attn needs at least one implementation name")
    for a in attns:
        variant, res, dev, dt = _check_settings(name, res, device, dtype, a)
    attn = attns[0]
    if weights is not None and not Path(weights).is_file():
        raise DataPathError(f"checkpoint {weights!r} does not exist: pass a .pth or .safetensors file to --weights")
    if threads:
        torch.set_num_threads(threads)
    opts, progress = options or ProfileOptions(), progress or Progress()
    load_before = load_average()
    progress.phase("counting aten ops (meta device)")
    meta = create_model(variant.name, img_size=res, attn_impl=attn, device="meta").to(dt).eval()
    meta_x = torch.empty(batch, 3, res, res, device="meta", dtype=dt)
    counted: Counted = count_side(meta, meta_x, swin_stages(meta), opts.depth)
    progress.phase("building the model")
    torch.manual_seed(DEFAULT_SEED)  # random init reproducible (and named in the header)
    model = create_model(variant.name, img_size=res, attn_impl=attn, weights=weights).to(dev, dt).eval()
    x = seeded_images(batch, res, device=dev, dtype=dt)

    weights_text = f"weights {weights}" if weights else f"random init weights (seed {DEFAULT_SEED})"
    report = Report(
        f"swinprof profile {variant.name}: {variant.display_name} at {res}x{res}, batch {batch}, {dtype} on "
        f"{dev.type}; {weights_text}; attention {' vs '.join(attns)}"
    )  # the header: what ran, on which weights, with which attention implementation
    transform = build_transform(variant, res)
    report.add("preprocessing", "Pre-processing (evaluation transform)", preprocessing_table(transform))
    native = res == variant.config.img_size
    info = model_info(
        model, counted.trace, batch, variant.display_name, f"{res}x{res}", variant.pretrain,
        variant.config.window_size, variant.top1 if native else None, variant.top5 if native else None,
    )  # fmt: skip
    info_note = (
        f"acc@1/acc@5: the paper's {variant.pretrain} figures for the official weights, not measured here"
        if native
        else "acc@1/acc@5 are blank: the paper's figures are for the variant's own resolution"
    )
    report.add("model_info", "Model info (MACs: multiply-adds; FLOPs = 2 x MACs; one image)", info.frame(), info_note,
               hidden=("tensor_peak_bytes",),
               essential=("name", "resolution", "acc@1", "acc@5", "params", "GMACs (1 img)",
                          "fwd tensor peak (MiB, batch)"))  # fmt: skip
    label = attns[0] if len(attns) > 1 else ""
    profile_model(report, model, x, swin_stages(model), opts, counted, progress, label)
    if any(t.key.startswith("roofline_stages") for t in report.tables):
        notes = window_gemm_notes(meta, counted.trace, res, batch)
        report.table("roofline_stages" + (f"_{label}" if label else "")).notes.extend(notes)
        for other in attns[1:]:
            progress.phase(f"roofline of attention {other!r}")
            other_meta = create_model(variant.name, img_size=res, attn_impl=other, device="meta").to(dt).eval()
            trace = count_costs(other_meta, meta_x, swin_stages(other_meta))
            model.set_attn_impl(other)
            profile_roofline(report, model, x, swin_stages(model), trace, opts, counted.ceilings, other)
        model.set_attn_impl(attns[0])
    wall = time.perf_counter() - start
    report.environment = environment(dev)
    if opts.time_it:
        report.warnings += busy_warning(report.environment, load_before, unaffected="counts, bytes and memory")
    report.settings.update({
        "variant": variant.name, "official name": variant.official_name, "resolution": res, "batch": batch,
        "dtype": dtype, "device": dev.type, "attn_impl": ",".join(attns),
        "weights": weights or f"random init (seed {DEFAULT_SEED})", "wall_s": round(wall, 3),
    })  # fmt: skip
    return report


__all__ = ["ProfileOptions", "profile_swin"]
