"""The TensorRT artifacts `swinprof export onnx-int8` / `onnx-fp16` write, and the evidence that they are right.

From the fp32 export: the explicit-Q/DQ int8 file (calibrated on `--data` images through the variant's
preprocessing, or on seeded random inputs) or the fp16 file for strongly typed builds; then the placement check,
the file's own fidelity in ONNX Runtime on CPU (SQNR and top-1 agreement against fp32 PyTorch on seeded inputs),
and the `trtexec` command to run on the device. The fidelity is the artifact's: ONNX Runtime executes the same
Q/DQ arithmetic TensorRT is asked to (TensorRT's fused kernels may round differently; unverified here).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from swinprof.evaluate.fidelity import Fidelity, compare_logits
from swinprof.measure.inputs import seeded_batches
from swinprof.optimize.onnx import INPUT_NAME, OrtModel, session

FIDELITY_SAMPLES = 16


@dataclass(frozen=True)
class TrtexecFiles:
    """Names of the files the device run writes (beside the ONNX file on the device)."""

    times: str = "times.json"
    profile: str = "profile.json"
    log: str = "trtexec.log"
    engine: str = "model.engine"


def calibration_batches(
    variant: str,
    img_size: int,
    in_chans: int,
    data: str | None,
    count: int,
    batch_size: int,
    seed: int = 0,
) -> tuple[list[torch.Tensor], str]:
    """`(batches, source)`: `(b, C, H, W)` batches of `count` images from the `data` folder through the
    variant's evaluation preprocessing, else seeded standard-normal inputs; `source` says which, for the report."""
    if data is None:
        return seeded_batches(count, batch_size, (in_chans, img_size, img_size), seed + 1), (
            f"{count} seeded random inputs (seed {seed + 1}), not images: pass --data for real ranges"
        )
    from swinprof.evaluate.imagefolder import iter_batches, scan_unlabeled
    from swinprof.models.config import get_variant
    from swinprof.models.preprocess import build_transform

    images = scan_unlabeled(data, count)  # no labels needed; class folders interleaved, image headers checked
    transform = build_transform(get_variant(variant), img_size)
    batches = [x for x, _ in iter_batches(images, transform, batch_size, count)]
    return batches, f"{sum(b.shape[0] for b in batches)} images from {data} ({', '.join(transform.describe())})"


def artifact_fidelity(model: nn.Module, path: Path, samples: int = FIDELITY_SAMPLES, seed: int = 0) -> Fidelity:
    """Logits of the ONNX file in ONNX Runtime (CPU) against fp32 PyTorch on `samples` seeded inputs."""
    c, img = model.config.in_chans, model.config.img_size
    x = torch.randn(samples, c, img, img, generator=torch.Generator().manual_seed(seed + 7))
    ort = OrtModel(session(path))
    static = ort.session.get_inputs()[0].shape[0]  # an int for a static batch, a name for a symbolic one
    chunk = static if isinstance(static, int) else samples
    with torch.inference_mode():
        return compare_logits(model(x), torch.cat([ort(part) for part in x.split(chunk)]))


def trtexec_command(
    onnx_name: str,
    in_chans: int,
    img_size: int,
    batch: int = 1,
    dynamic_batch: bool = False,
    max_batch: int = 32,
    files: TrtexecFiles = TrtexecFiles(),
) -> str:
    """The `trtexec` line to run on the device: a strongly typed build (precision from the file's own types and
    Q/DQ nodes: TensorRT 11 knows no other), the per-inference times and per-layer profile exported as JSON for
    `swinprof import-trtexec`, the profile taken in a separate run so it does not slow the timed one."""
    shape = f"{INPUT_NAME}:{batch}x{in_chans}x{img_size}x{img_size}"
    shapes = []  # a static-shape file takes no shape flags (trtexec refuses them: the model fixes the shapes)
    if dynamic_batch:
        shapes = [f"--minShapes={INPUT_NAME}:1x{in_chans}x{img_size}x{img_size}", f"--optShapes={shape}",
                  f"--maxShapes={INPUT_NAME}:{max_batch}x{in_chans}x{img_size}x{img_size}",
                  f"--shapes={shape}"]  # fmt: skip
    args = ["trtexec", f"--onnx={onnx_name}", *shapes, "--stronglyTyped", f"--saveEngine={files.engine}",
            f"--exportTimes={files.times}", f"--exportProfile={files.profile}", "--separateProfileRun",
            "--profilingVerbosity=detailed"]  # fmt: skip
    return " ".join(shlex.quote(a) for a in args) + f" 2>&1 | tee {files.log}"
