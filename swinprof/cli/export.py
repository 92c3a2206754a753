"""`swinprof export onnx|onnx-int8|onnx-fp16 MODEL`: write an ONNX file (for ONNX Runtime or trtexec) and check it with
ONNX Runtime; the TensorRT formats (explicit Q/DQ int8, strongly typed fp16) live in `_export_trt`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from swinprof.cli import _export_trt
from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit

if TYPE_CHECKING:
    from swinprof.report.document import Report

FORMATS = ["table", "markdown", "csv", "json", "html"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export a model (ONNX) for other runtimes",
        description="Export a variant to ONNX (dynamo exporter by default, optionally with a symbolic batch) and "
        "check it against PyTorch in ONNX Runtime; onnx-int8 (explicit Q/DQ, calibrated) and onnx-fp16 are for "
        "TensorRT strongly typed builds (trtexec --stronglyTyped). Example: swinprof export onnx swin_s "
        "--dynamic-batch -o swin_s.onnx",
    )
    p.add_argument("format", choices=["onnx", *_export_trt.TRT_FORMATS], help="export format")
    p.add_argument("variant", metavar="MODEL", type=v.variant, help="variant name, e.g. swin_s")
    p.add_argument("--res", type=v.resolution, dest="img_size", help="input resolution (default: the variant's)")
    p.add_argument("--weights", type=v.existing_file, help="checkpoint to load before export (default random init)")
    v.add_model_config(p)
    p.add_argument("--opset", type=v.positive_int, default=18,
                   help="ONNX opset version (default 18; dynamo: 18 and up, torchscript: 13 to 20)")  # fmt: skip
    p.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dimension")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                   help="torch.onnx exporter (default dynamo: torch.export underneath)")  # fmt: skip
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime parity check")
    p.add_argument("--report-format", dest="report_format", choices=FORMATS, default="table",
                   help="how to print the export report (default table)")  # fmt: skip
    o.add_output(p, "the ONNX file here", kind=v.output_file, required=True)
    _export_trt.add_options(p)
    return p


def export_report(args: argparse.Namespace, model, path: Path, parity: dict[int, float] | None) -> Report:
    """What was exported, and how closely ONNX Runtime follows PyTorch on it."""
    import pandas as pd

    from swinprof.report.document import Report

    img = model.config.img_size
    report = Report(f"swinprof export onnx: {args.variant} at {img}x{img}")
    report.settings.update({
        "file": str(args.output), "size MiB": round(path.stat().st_size / 2**20, 1), "opset": args.opset,
        "exporter": args.exporter, "batch": "dynamic" if args.dynamic_batch else "static",
        "weights": args.weights or "random init", "model config": dict(args.model_config) or "as the variant",
    })  # fmt: skip
    if parity is None:
        report.add("parity", "ONNX Runtime parity", notes="not checked (--no-check)")
    else:
        frame = pd.DataFrame([{"batch": b, "max abs diff vs PyTorch": err} for b, err in parity.items()])
        report.add("parity", "ONNX Runtime parity", frame, "logits on seeded random inputs, fp32, CPU")
    return report


def run(args: argparse.Namespace) -> int:
    import torch

    from swinprof.measure.environment import environment
    from swinprof.models import create_model
    from swinprof.optimize.onnx import check_opset, check_parity, export_onnx
    from swinprof.report.writer import publish

    out = Path(args.output)
    check_opset(args.opset, args.exporter)
    if args.format in _export_trt.TRT_FORMATS:
        _export_trt.validate(args)  # before the model is built
    else:
        _export_trt.validate_plain(args)
    overrides = v.model_overrides(args.variant, args.img_size, args.model_config)
    v.check_memory(args.variant, args.img_size, 2 if args.dynamic_batch else 1, what="export", overrides=overrides)
    torch.manual_seed(args.seed)  # random init is seeded like every command's (--seed)
    model = create_model(args.variant, img_size=args.img_size, weights=args.weights, **overrides).eval()
    with tempfile.TemporaryDirectory(prefix="swinprof-export-") as tmp:
        path = export_onnx(
            model, Path(tmp) / out.name, model.config.img_size, args.opset, args.dynamic_batch, args.exporter
        )
        if args.format in _export_trt.TRT_FORMATS:
            fp32, path = path, Path(tmp) / f"{args.format}.{out.name}"
            report = _export_trt.build(args, model, fp32, path)
        else:
            parity = None if args.no_check else check_parity(model, path, (1, 2) if args.dynamic_batch else (1,))
            report = export_report(args, model, path, parity)
        report.environment = environment("cpu")
        publish({out.name: path}, out.parent)  # the file appears whole or not at all
    emit(report, args.report_format)
    return 0
