"""`swinprof export onnx MODEL`: write an ONNX file (for ONNX Runtime or trtexec) and check it with ONNX Runtime."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from swinprof.cli._render import console
from swinprof.errors import DataPathError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="export a model (ONNX) for other runtimes")
    p.add_argument("format", choices=["onnx"], help="export format")
    p.add_argument("variant", metavar="MODEL", help="variant name, e.g. swin_s")
    p.add_argument("--res", type=int, dest="img_size", help="input resolution (default: the variant's)")
    p.add_argument("--weights", help="checkpoint to load before export (default random init)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dimension")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime parity check")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.models import create_model
    from swinprof.optimize.onnx import check_parity, export_onnx
    from swinprof.report.files import atomic_write_bytes

    out = Path(args.output)
    if not out.parent.exists():
        raise DataPathError(f"output folder {str(out.parent)!r} does not exist")
    model = create_model(args.variant, img_size=args.img_size, weights=args.weights).eval()
    with tempfile.TemporaryDirectory(prefix="swinprof-export-") as tmp:
        path = export_onnx(
            model, Path(tmp) / out.name, model.config.img_size, args.opset, args.dynamic_batch, args.exporter
        )
        lines = []
        if not args.no_check:
            for b, err in check_parity(model, path, (1, 2) if args.dynamic_batch else (1,)).items():
                lines.append(f"batch {b}: max abs diff vs PyTorch {err:.2e}")
        atomic_write_bytes(out, path.read_bytes())
    size = out.stat().st_size / 2**20
    batch = "dynamic" if args.dynamic_batch else "static"
    console.print(f"wrote {out} ({size:.1f} MiB, opset {args.opset}, {batch} batch)")
    for line in lines:
        console.print(f"  ONNX Runtime {line}")
    return 0
