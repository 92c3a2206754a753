"""`swinprof export onnx-int8 | onnx-fp16`: the TensorRT artifacts (options, run, report); `export.py` routes here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.report.document import Report

TRT_FORMATS = ("onnx-int8", "onnx-fp16")
DEFAULT_SKIP_HELP = "patch_embed, head, *.relative_position_bias_table, *.cpb_mlp"


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("onnx-int8 (explicit Q/DQ for TensorRT)")
    g.add_argument("--data", type=v.existing_dir, help="calibrate on these images (default: seeded random inputs)")
    g.add_argument("--calibration-count", type=v.positive_int, default=32, help="calibration images (default 32)")
    g.add_argument("--calibration-batch", type=v.positive_int, default=8, help="calibration batch (default 8)")
    g.add_argument("--calibrator", choices=["max", "percentile"], default="max",
                   help="activation range: largest |x| seen, or a percentile of |x| (default max)")  # fmt: skip
    g.add_argument("--percentile", type=v.finite_float(50.0, 100.0), default=99.99,
                   help="percentile for --calibrator percentile (default 99.99)")  # fmt: skip
    g.add_argument("--skip", action="append", metavar="GLOB",
                   help=f"module-name glob left in float, repeatable (default: {DEFAULT_SKIP_HELP})")  # fmt: skip
    o.add_seed(g)
    g.add_argument("--trt-batch", type=v.positive_int, default=1,
                   help="batch of the printed trtexec command (default 1)")  # fmt: skip


def build(args: argparse.Namespace, model, fp32: Path, dst: Path) -> Report:
    """Write the artifact at `dst` from the fp32 export `fp32`; return its report."""
    from swinprof.optimize.fp16_onnx import export_fp16
    from swinprof.optimize.qdq_check import check_onnx, placement_report
    from swinprof.optimize.qdq_onnx import quantize_qdq
    from swinprof.optimize.recipe import DEFAULT_SKIP
    from swinprof.studies.trt_artifact import artifact_fidelity, calibration_batches, trtexec_command

    c, img = model.config.in_chans, model.config.img_size
    calibration = None
    if args.format == "onnx-int8":
        batches, source = calibration_batches(args.variant, img, c, args.data, args.calibration_count,
                                              args.calibration_batch, args.seed)  # fmt: skip
        modules = {name for name, _ in model.named_modules()}
        result = quantize_qdq(fp32, dst, batches, source, skip=args.skip or DEFAULT_SKIP, modules=modules,
                              calibrator=args.calibrator, percentile=args.percentile)  # fmt: skip
        calibration = result.calibration
    else:
        export_fp16(fp32, dst)
    report = placement_report(check_onnx(dst), args.output)
    report.title = f"swinprof export {args.format}: {args.variant} at {img}x{img}"
    fidelity = artifact_fidelity(model, dst, seed=args.seed)
    arithmetic = "int8 Q/DQ" if args.format == "onnx-int8" else "fp16"
    frame = pd.DataFrame([{"file": Path(args.output).name, "SQNR dB": fidelity.sqnr_db,
                           "top-1 agreement": fidelity.top1_agreement, "max abs err": fidelity.max_abs_err,
                           "samples": fidelity.samples}])  # fmt: skip
    report.add("fidelity", "Fidelity of the file in ONNX Runtime (CPU) vs fp32 PyTorch", frame,
               f"seeded random inputs; ONNX Runtime executes the file's {arithmetic} arithmetic, TensorRT's "
               "kernels may round differently (not measured here)")  # fmt: skip
    report.settings.update({
        "file": str(args.output), "size MiB": round(dst.stat().st_size / 2**20, 1), "opset": args.opset,
        "batch": "dynamic" if args.dynamic_batch else "static", "weights": args.weights or "random init",
        "calibration": calibration or "none (fp16: no int8)",
        "skip": ", ".join(args.skip or DEFAULT_SKIP) if args.format == "onnx-int8" else "n/a",
    })  # fmt: skip
    command = trtexec_command(Path(args.output).name, c, img, args.trt_batch, args.dynamic_batch)
    report.notes.append(f"on the device: {command}")
    report.notes.append("then: swinprof import-trtexec --times times.json --profile profile.json --log trtexec.log "
                        "-o results.json (see docs/deploy-jetson.md)")  # fmt: skip
    return report
