"""`swinprof check-onnx FILE`: the Q/DQ placement check of any ONNX file (what TensorRT would run in int8)."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "check-onnx",
        help="check the Q/DQ placement of an ONNX file for TensorRT",
        description="Per MatMul/Gemm/Conv: does each input come through a DequantizeLinear (its int8 kind, "
        "per-channel or per-tensor), MACs per image and the int8 share of them; fails (exit 2, one line naming "
        "the node) on an asymmetric zero point, a quantized LayerNorm/Softmax/GELU, or a GEMM with one float "
        "input. Example: swinprof check-onnx swin_t.int8.onnx",
    )
    p.add_argument("file", metavar="FILE", type=v.existing_file, help="ONNX file to check")
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.optimize.qdq_check import check_onnx, placement_report

    placement = check_onnx(args.file)
    emit(placement_report(placement, args.file), args.format, args.output, stem="check-onnx")
    return 0
