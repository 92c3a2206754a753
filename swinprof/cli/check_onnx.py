"""`swinprof check-onnx FILE [--against FP32_FILE]`: what TensorRT refuses in an ONNX file, what it will run in int8
and in which float type, and (with `--against`) where the int8 error is born, tensor by tensor."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit
from swinprof.errors import InvalidOptionError
from swinprof.optimize.qdq_terms import DEFAULT_THRESHOLD_DB, MAX_CALIBRATION_IMAGES

DEFAULT_COUNT = 32


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "check-onnx",
        help="check an ONNX file against TensorRT's Q/DQ rules; with --against, find where int8 error is born",
        description="Fails (exit 2, one line naming the node, the rule and its source) only on what TensorRT's ONNX "
        "import refuses: a zero point that is not int8 0, a uint8 or implicit-uint8 Q/DQ, a scale that is not "
        "positive or whose length is not the axis dimension, per-channel scales on an activation, float16 scales "
        "before opset 19; and on a file that cannot be read. Otherwise prints, per MatMul/Gemm/Conv, how its "
        "inputs arrive and what it runs in, the int8 share of the GEMM MACs, the precision of every other op class, "
        "and placement preferences as notes. --against FP32_FILE runs both files in ONNX Runtime and gives every "
        "tensor's SQNR against fp32 in graph order, naming the first one below --threshold and the op that lost "
        "most. Example: swinprof check-onnx swin_t.int8.onnx --against swin_t.fp32.onnx --data calib/ --model swin_t",
    )
    p.add_argument("file", metavar="FILE", type=v.existing_file, help="ONNX file to check")
    g = p.add_argument_group("where int8 error is born (--against)")
    g.add_argument("--against", metavar="FP32_FILE", type=v.existing_file,
                   help="the fp32 ONNX file FILE was made from: compare every tensor with it")  # fmt: skip
    g.add_argument("--data", type=v.existing_dir, help="compare on these images (default: seeded random inputs)")
    g.add_argument("--model", type=v.variant, help="the variant whose preprocessing --data images go through")
    g.add_argument("--count", type=v.int_at_least(1, MAX_CALIBRATION_IMAGES), default=DEFAULT_COUNT,
                   help=f"images to compare on (default {DEFAULT_COUNT})")  # fmt: skip
    o.add_batch(p, 8)
    g.add_argument("--threshold", type=v.finite_float(0.0, 200.0), default=DEFAULT_THRESHOLD_DB, metavar="DB",
                   help=f"name the first tensor whose SQNR is below this (default {DEFAULT_THRESHOLD_DB:g} dB)")
    o.add_seed(p)
    o.add_format(p)
    o.add_output(p)
    return p


def _validate(args: argparse.Namespace) -> None:
    used = [flag for flag, value in (("--data", args.data), ("--model", args.model)) if value]
    if used and not args.against:
        raise InvalidOptionError(f"{used[0]} applies to the error localization: add --against FP32_FILE")
    if args.data and not args.model:
        raise InvalidOptionError("--data needs --model VARIANT: its images go through that variant's preprocessing")


def _input_shape(args: argparse.Namespace, reference) -> tuple[int, int]:
    """`(channels, resolution)` of the images: the fp32 file's static input shape, else the variant's."""
    from swinprof.optimize.ort_tensors import input_name

    name = input_name(reference)
    value = next(i for i in reference.graph.input if i.name == name)
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in value.type.tensor_type.shape.dim]
    if len(dims) == 4 and all(dims[1:]):
        return dims[1], dims[2]
    if not args.model:
        raise InvalidOptionError(f"{args.against}: its input {name!r} has no fixed (C, H, W); name --model VARIANT")
    from swinprof.models.config import get_variant

    config = get_variant(args.model).config
    return config.in_chans, config.img_size


def run(args: argparse.Namespace) -> int:
    from swinprof.optimize.qdq_check import check_onnx, placement_report

    _validate(args)
    placement = check_onnx(args.file)
    report = placement_report(placement, args.file)
    if args.against:
        report = _with_localization(args, report)
    emit(report, args.format, args.output, stem="check-onnx")
    return 0


def _with_localization(args: argparse.Namespace, report):
    from swinprof.optimize.qdq_localize import localization_report, localize_error
    from swinprof.optimize.trt_rules import read_onnx
    from swinprof.studies.trt_artifact import calibration_batches

    channels, size = _input_shape(args, read_onnx(args.against))
    batches, source = calibration_batches(args.model or "", size, channels, args.data, args.count, args.batch,
                                          args.seed)  # fmt: skip
    found = localize_error(args.file, args.against, batches, args.threshold)
    located = localization_report(found, args.file, args.against, source)
    from swinprof.measure.environment import environment

    report.title = f"{report.title}; {located.title}"
    report.tables = [*located.tables, *report.tables]
    report.notes.extend(located.notes)
    report.settings.update({"file": args.file, "against": args.against, "images": source, "model": args.model or "-",
                            "threshold dB": args.threshold, "batch": args.batch})  # fmt: skip
    report.environment = environment("cpu")
    return report
