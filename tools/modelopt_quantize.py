"""Quantize an fp32 ONNX file with NVIDIA ModelOpt's ONNX PTQ (int8), for `tools/qdq_compare.py`.

Runs in ModelOpt's own virtual environment (ModelOpt installs onnxruntime-gpu and an older onnx, which would replace
swinprof's), e.g.:

    python3 -m venv /work/venvs/modelopt
    /work/venvs/modelopt/bin/pip install torch==2.13.0 'nvidia-modelopt[onnx]'
    /work/venvs/modelopt/bin/python tools/modelopt_quantize.py fp32.onnx calib.npy out.onnx --method max

Calibration runs on the CPU execution provider. Prints one JSON line: the ModelOpt version and the call made.
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("fp32", help="the fp32 ONNX file")
    p.add_argument("calibration", help="calibration images, a .npy array (N, C, H, W) float32")
    p.add_argument("output", help="where ModelOpt writes the int8 file")
    p.add_argument("--method", default=None, help="calibration method (default: ModelOpt's own, entropy for int8)")
    p.add_argument("--high-precision", default="fp16", choices=["fp16", "fp32"])
    args = p.parse_args()
    from modelopt.onnx.quantization import quantize

    images = np.load(args.calibration)
    quantize(args.fp32, quantize_mode="int8", calibration_data={"images": images}, calibration_eps=["cpu"],
             calibration_method=args.method, high_precision_dtype=args.high_precision, output_path=args.output)
    print(json.dumps({"modelopt": metadata.version("nvidia-modelopt"), "method": args.method or "default",
                      "high_precision": args.high_precision, "calibration_images": int(images.shape[0])}))


if __name__ == "__main__":
    main()
