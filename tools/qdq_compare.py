"""The int8 ONNX comparison of docs/deploy-jetson.md: swinprof's default file, each placement option, and NVIDIA
ModelOpt's ONNX PTQ, on the trained digits network with the same calibration images.

    swinprof train-digits -o /tmp/digits
    python tools/qdq_compare.py --digits /tmp/digits --modelopt-python /work/venvs/modelopt/bin/python \
        -o /tmp/qdq-compare

Every file is quantized from the same fp32 export, calibrated on the digits calibration split (180 images through
the variant's preprocessing), checked with `swinprof check-onnx`'s findings, and run in ONNX Runtime on the CPU with
Q/DQ as written over the 539 test images: logits SQNR and top-1 agreement against fp32 PyTorch, test top-1 with
the paired comparison against fp32 (McNemar's exact p, Newcombe's interval). Prints the markdown table. ModelOpt
runs in its own virtual environment (tools/modelopt_quantize.py); without `--modelopt-python` its rows are left out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch

from swinprof.evaluate.fidelity import compare_logits
from swinprof.evaluate.significance import Rate, paired
from swinprof.models import create_model
from swinprof.optimize.onnx import OrtModel, export_onnx, session
from swinprof.optimize.qdq_check import REDUCTIONS, check_onnx
from swinprof.optimize.qdq_onnx import quantize_qdq
from swinprof.optimize.recipe import DEFAULT_SKIP
from swinprof.studies.trained import test_set
from swinprof.studies.trt_artifact import calibration_batches

VARIANT = "swin_digits"
SWINPROF = {  # row -> quantize_qdq options
    "swinprof default (fp16 high precision)": {},
    "swinprof --high-precision fp32": {"high_precision": "fp32"},
    "swinprof --qdq-residual": {"residual": True},
    "swinprof --quantize-patch-embed": {"skip": tuple(g for g in DEFAULT_SKIP if g != "patch_embed")},
    "swinprof --qdq-residual --quantize-patch-embed": {"residual": True,
                                                       "skip": tuple(g for g in DEFAULT_SKIP if g != "patch_embed")},
}  # fmt: skip
MODELOPT = {"ModelOpt default (entropy calibration)": None, "ModelOpt --calibration_method max": "max"}


def _precision(placement) -> str:
    """Non-GEMM precision in one cell: the element types of everything else, and of LayerNorm/Softmax."""
    other, reductions = Counter(), Counter()
    for op, kinds in placement.precisions.items():
        (reductions if op in REDUCTIONS else other).update(kinds)
    return f"{'/'.join(sorted(other))}; LayerNorm/Softmax {'/'.join(sorted(reductions))}"


def _row(name: str, path: Path, model, x: torch.Tensor, y: torch.Tensor, ref: torch.Tensor) -> dict:
    placement = check_onnx(path)
    with torch.inference_mode():
        got = OrtModel(session(path, exact_qdq=True))(x)
    fidelity = compare_logits(ref, got)
    drop = paired((ref.argmax(1) == y).tolist(), (got.argmax(1) == y).tolist())
    counts = Counter(g.precision for g in placement.gemms)
    return {
        "file": name,
        "nodes": len(onnx.load(str(path), load_external_data=False).graph.node),
        "Q / DQ nodes": f"{placement.qdq_counts['QuantizeLinear']} / {placement.qdq_counts['DequantizeLinear']}",
        "int8 GEMMs": f"{counts['int8']} of {len(placement.gemms)}",
        "int8 share of GEMM MACs": f"{placement.int8_macs_share:.1%}",
        "non-GEMM precision": _precision(placement),
        "SQNR dB": f"{fidelity.sqnr_db:.1f}",
        "top-1 agreement": f"{fidelity.top1_agreement:.3f}",
        "test top-1 (vs fp32)": f"{drop.new} ({drop})",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=Path, required=True, help="the folder `swinprof train-digits -o` wrote")
    p.add_argument("--modelopt-python", help="python of ModelOpt's virtual environment (omit: no ModelOpt rows)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the files")
    args = p.parse_args()
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    model = create_model(VARIANT, weights=str(args.digits / f"{VARIANT}.safetensors")).eval()
    c, img = model.config.in_chans, model.config.img_size
    fp32 = export_onnx(model, out / "digits.fp32.onnx", img, dynamic_batch=True)
    batches, source = calibration_batches(VARIANT, img, c, str(args.digits / "calib"), 180, 32)
    x, y = test_set(args.digits, VARIANT)
    with torch.inference_mode():
        ref = model(x)
    modules = {n for n, _ in model.named_modules()}
    rows = []
    for name, options in SWINPROF.items():
        options = {"skip": DEFAULT_SKIP, **options}
        path = out / f"digits.{len(rows)}.onnx"
        quantize_qdq(fp32, path, batches, source, modules=modules, **options)
        rows.append(_row(name, path, model, x, y, ref))
    if args.modelopt_python:
        np.save(out / "calib.npy", torch.cat(list(batches)).numpy())
        tool = Path(__file__).with_name("modelopt_quantize.py")
        for name, method in MODELOPT.items():
            path = out / f"digits.modelopt.{method or 'default'}.onnx"
            cmd = [args.modelopt_python, str(tool), str(fp32), str(out / "calib.npy"), str(path)]
            done = subprocess.run([*cmd, *(["--method", method] if method else [])], capture_output=True, text=True,
                                  check=True)  # fmt: skip
            version = json.loads(done.stdout.strip().splitlines()[-1])["modelopt"]
            rows.append(_row(f"{name}, ModelOpt {version}", path, model, x, y, ref))
    base = Rate(int((ref.argmax(1) == y).sum()), len(y))
    print(f"calibration: {source}; test: {len(y)} images; fp32 PyTorch test top-1 {base}\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
