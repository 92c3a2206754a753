"""`swinprof export onnx-int8 | onnx-fp16`: the TensorRT artifacts (options, run, report); `export.py` routes here."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.errors import InvalidOptionError
from swinprof.optimize.qdq_terms import MAX_CALIBRATION_IMAGES

if TYPE_CHECKING:
    from swinprof.report.document import Report

TRT_FORMATS = ("onnx-int8", "onnx-fp16")
DEFAULT_SKIP_HELP = "patch_embed, head, *.relative_position_bias_table, *.cpb_mlp"
LAYERNORM_OPSET = 17  # LayerNormalization exists from opset 17; older exports decompose it (fp16_onnx refuses)
# The TensorRT formats' options and their defaults (`add_options` takes them from here): set on `export onnx` they
# would do nothing, so they are refused there.
TRT_ONLY = {"data": None, "calibration_count": 32, "calibration_batch": 8, "calibrator": "max", "percentile": 99.99,
            "skip": None, "high_precision": "fp16", "qdq_residual": False, "quantize_patch_embed": False,
            "trt_batch": 1}  # fmt: skip


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("onnx-int8 (explicit Q/DQ for TensorRT)")
    g.add_argument("--data", type=v.existing_dir, help="calibrate on these images (default: seeded random inputs)")
    g.add_argument("--calibration-count", type=v.int_at_least(1, MAX_CALIBRATION_IMAGES),
                   default=TRT_ONLY["calibration_count"],
                   help=f"calibration images, at most {MAX_CALIBRATION_IMAGES:,} (default %(default)s)")  # fmt: skip
    g.add_argument("--calibration-batch", type=v.int_at_least(1, 1024), default=TRT_ONLY["calibration_batch"],
                   help="calibration batch (default %(default)s)")  # fmt: skip
    g.add_argument("--calibrator", choices=["max", "percentile"], default=TRT_ONLY["calibrator"],
                   help="activation range: largest |x| seen, or a percentile of |x| (default %(default)s)")  # fmt: skip
    g.add_argument("--percentile", type=v.finite_float(50.0, 100.0), default=TRT_ONLY["percentile"],
                   help="percentile for --calibrator percentile (default %(default)s)")  # fmt: skip
    g.add_argument("--skip", action="append", metavar="GLOB",
                   help=f"module-name glob left in float, repeatable (default: {DEFAULT_SKIP_HELP})")  # fmt: skip
    g.add_argument("--high-precision", choices=["fp16", "fp32"], default=TRT_ONLY["high_precision"],
                   help="what is not an int8 GEMM computes in: fp16 (LayerNorm/Softmax in fp32 between casts; "
                   "input and output fp32) or fp32 (default %(default)s)")  # fmt: skip
    g.add_argument("--qdq-residual", action="store_true",
                   help="also Q/DQ the skip input of residual adds (ModelOpt's placement: TensorRT can fuse the add "
                   "into the int8 GEMM)")  # fmt: skip
    g.add_argument("--quantize-patch-embed", action="store_true",
                   help="quantize the patch-embedding convolution too (drops patch_embed from the default skip list)")
    o.add_seed(g)
    g.add_argument("--trt-batch", type=v.int_at_least(1, 4096), default=TRT_ONLY["trt_batch"],
                   help="batch of the printed trtexec command; above 1 needs --dynamic-batch "
                   "(default %(default)s)")  # fmt: skip



def validate_plain(args: argparse.Namespace) -> None:
    """Refuse the TensorRT formats' options on `export onnx`, where they would be silently ignored."""
    used = [k for k, default in TRT_ONLY.items() if getattr(args, k) != default]
    if used:
        flag = "--" + used[0].replace("_", "-")
        raise InvalidOptionError(f"{flag} applies to onnx-int8 / onnx-fp16 only, not to export onnx")


def validate(args: argparse.Namespace) -> None:
    """Refuse, before any work, what the TensorRT formats cannot honour."""
    from swinprof.studies.trt_artifact import trtexec_command

    if args.opset < LAYERNORM_OPSET:
        raise InvalidOptionError(f"--opset {args.opset}: the TensorRT formats need opset {LAYERNORM_OPSET} or later "
                                 "(older exports split LayerNorm into ops that would run in fp16)")  # fmt: skip
    if args.format == "onnx-fp16" and (args.qdq_residual or args.quantize_patch_embed or args.data):
        raise InvalidOptionError("--data, --qdq-residual and --quantize-patch-embed apply to onnx-int8 only")
    if args.quantize_patch_embed and args.skip:
        raise InvalidOptionError("--quantize-patch-embed edits the default skip list; with --skip, leave patch_embed "
                                 "out of your globs instead")  # fmt: skip
    trtexec_command("m.onnx", 3, 32, args.trt_batch, args.dynamic_batch)  # raises for --trt-batch on a static file


def skip_globs(args: argparse.Namespace) -> tuple[str, ...]:
    from swinprof.optimize.recipe import DEFAULT_SKIP

    if args.skip:
        return tuple(args.skip)
    return tuple(g for g in DEFAULT_SKIP if not (args.quantize_patch_embed and g == "patch_embed"))


def build(args: argparse.Namespace, model, fp32: Path, dst: Path) -> Report:
    """Write the artifact at `dst` from the fp32 export `fp32`; return its report."""
    import pandas as pd

    from swinprof.optimize.fp16_onnx import export_fp16
    from swinprof.optimize.qdq_check import check_onnx, placement_report
    from swinprof.optimize.qdq_onnx import quantize_qdq
    from swinprof.studies.trt_artifact import TrtexecFiles, artifact_fidelity, calibration_batches, trtexec_command

    c, img = model.config.in_chans, model.config.img_size
    calibration, int8 = None, args.format == "onnx-int8"
    if int8:
        batches, source = calibration_batches(args.variant, img, c, args.data, args.calibration_count,
                                              args.calibration_batch, args.seed)  # fmt: skip
        modules = {name for name, _ in model.named_modules()}
        result = quantize_qdq(fp32, dst, batches, source, skip=skip_globs(args), modules=modules,
                              calibrator=args.calibrator, percentile=args.percentile,
                              high_precision=args.high_precision, residual=args.qdq_residual)  # fmt: skip
        calibration = result.calibration
    else:
        export_fp16(fp32, dst)
    report = placement_report(check_onnx(dst), args.output)
    report.title = f"swinprof export {args.format}: {args.variant} at {img}x{img}"
    fidelity = artifact_fidelity(model, dst, seed=args.seed)
    arithmetic = f"int8 Q/DQ with {args.high_precision} elsewhere" if int8 else "fp16"
    frame = pd.DataFrame([{"file": Path(args.output).name, "SQNR dB": fidelity.sqnr_db,
                           "top-1 agreement": fidelity.top1_agreement, "max abs err": fidelity.max_abs_err,
                           "samples": fidelity.samples}])  # fmt: skip
    report.add("fidelity", "Fidelity of the file in ONNX Runtime (CPU) vs fp32 PyTorch", frame,
               f"seeded random inputs; ONNX Runtime executes the file's {arithmetic} arithmetic as written (Q/DQ "
               "not fused into its CPU integer kernels); TensorRT's kernels may round differently (not measured "
               "here)")  # fmt: skip
    report.settings.update({
        "file": str(args.output), "size MiB": round(dst.stat().st_size / 2**20, 1), "opset": args.opset,
        "batch": "dynamic" if args.dynamic_batch else "static", "weights": args.weights or "random init",
        "calibration": calibration or "none (fp16: no int8)",
        "skip": ", ".join(skip_globs(args)) if int8 else "n/a",
        "high precision": args.high_precision if int8 else "fp16",
        "residual Q/DQ": (f"{len(result.residual_adds)} adds" if args.qdq_residual else "no") if int8 else "n/a",
    })  # fmt: skip
    name = Path(args.output).name
    report.notes.append(f"on the device (bash): {trtexec_command(name, c, img, args.trt_batch, args.dynamic_batch)}")
    case = name.removesuffix(".onnx")
    report.notes.append(f"then: {TrtexecFiles.for_model(name).import_command(case)} (see docs/deploy-jetson.md)")
    return report
