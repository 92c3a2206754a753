"""The TensorRT artifacts `swinprof export onnx-int8` / `onnx-fp16` write, and the evidence that they are right.

From the fp32 export: the explicit-Q/DQ int8 file (calibrated on `--data` images through the variant's
preprocessing, or on seeded random inputs) or the fp16 file for strongly typed builds; then the placement check,
the file's own fidelity in ONNX Runtime on CPU (SQNR and top-1 agreement against fp32 PyTorch on seeded inputs),
and the `trtexec` command to run on the device. The fidelity is the artifact's: ONNX Runtime executes the same
Q/DQ arithmetic TensorRT is asked to (TensorRT's fused kernels may round differently; unverified here).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from swinprof.errors import InvalidOptionError
from swinprof.evaluate.fidelity import Fidelity, compare_logits
from swinprof.measure.inputs import iter_seeded_batches
from swinprof.optimize.onnx import INPUT_NAME, OrtModel, session
from swinprof.optimize.qdq_terms import MAX_CALIBRATION_IMAGES

FIDELITY_SAMPLES = 16
DEFAULT_MAX_BATCH = 32  # the trtexec profile's largest batch unless the timed batch is larger


@dataclass(frozen=True)
class TrtexecFiles:
    """Names of the files the device run writes (beside the ONNX file on the device)."""

    times: str = "times.json"
    profile: str = "profile.json"
    log: str = "trtexec.log"
    engine: str = "model.engine"

    @classmethod
    def for_model(cls, onnx_name: str) -> TrtexecFiles:
        """Files named after the ONNX file (`swin_t.int8.times.json`, ...), so the fp16 and int8 runs on one
        device keep apart."""
        stem = Path(onnx_name).name.removesuffix(".onnx")
        return cls(f"{stem}.times.json", f"{stem}.profile.json", f"{stem}.trtexec.log", f"{stem}.engine")

    def import_command(self, case: str) -> str:
        """The `swinprof import-trtexec` line that reads these files back."""
        return (f"swinprof import-trtexec --times {self.times} --profile {self.profile} --log {self.log} "
                f"--case {case} -o {case}.results.json")  # fmt: skip


@dataclass(frozen=True)
class LazyBatches:
    """`(b, C, H, W)` batches made when iterated (as often as asked), so memory holds one batch at a time."""

    images: int
    make: Callable[[], Iterator[torch.Tensor]]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self.make()


def check_calibration_count(count: int) -> None:
    """Refuse, before any work, more calibration images than MAX_CALIBRATION_IMAGES."""
    if count > MAX_CALIBRATION_IMAGES:
        raise InvalidOptionError(f"--calibration-count {count} is more than {MAX_CALIBRATION_IMAGES:,} images: "
                                 "ranges settle after a few hundred; choose a smaller count")  # fmt: skip


def calibration_batches(
    variant: str,
    img_size: int,
    in_chans: int,
    data: str | None,
    count: int,
    batch_size: int,
    seed: int = 0,
) -> tuple[LazyBatches, str]:
    """`(batches, source)`: `(b, C, H, W)` batches of `count` images from the `data` folder through the
    variant's evaluation preprocessing, else seeded standard-normal inputs, made lazily (one batch in memory);
    `source` says which, for the report. `count` is bounded first (MAX_CALIBRATION_IMAGES)."""
    check_calibration_count(count)
    if data is None:
        shape = (in_chans, img_size, img_size)
        batches = LazyBatches(count, lambda: iter_seeded_batches(count, batch_size, shape, seed + 1))
        return batches, f"{count} seeded random inputs (seed {seed + 1}), not images: pass --data for real ranges"
    from swinprof.evaluate.imagefolder import iter_batches, scan_unlabeled
    from swinprof.models.config import get_variant
    from swinprof.models.preprocess import build_transform

    images = scan_unlabeled(data, count)  # no labels needed; class folders interleaved, image headers checked
    transform = build_transform(get_variant(variant), img_size)
    n = min(count, len(images))
    batches = LazyBatches(n, lambda: (x for x, _ in iter_batches(images, transform, batch_size, n)))
    return batches, f"{n} images from {data} ({', '.join(transform.describe())})"


def artifact_fidelity(model: nn.Module, path: Path, samples: int = FIDELITY_SAMPLES, seed: int = 0) -> Fidelity:
    """Logits of the ONNX file in ONNX Runtime (CPU, Q/DQ run as written: `session(exact_qdq=True)`) against fp32
    PyTorch on `samples` seeded inputs."""
    c, img = model.config.in_chans, model.config.img_size
    x = torch.randn(samples, c, img, img, generator=torch.Generator().manual_seed(seed + 7))
    ort = OrtModel(session(path, exact_qdq=True))
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
    max_batch: int = DEFAULT_MAX_BATCH,
    files: TrtexecFiles | None = None,
) -> str:
    """The `trtexec` line to run on the device (bash): a strongly typed build (precision from the file's own types
    and Q/DQ nodes: TensorRT 11 knows no other), the per-inference times and per-layer profile exported as JSON for
    `swinprof import-trtexec` (files named after the ONNX file unless `files` says otherwise), the profile taken in
    a separate run so it does not slow the timed one. The log is
    kept with `tee` under `set -o pipefail`, so the line's exit status is trtexec's.

    A dynamic-batch file gets a profile from batch 1 to `max(max_batch, batch)` with `batch` as the optimum (and
    the timed shape); a static file takes no shape flags (trtexec refuses them) and runs its own batch only."""
    if not dynamic_batch and batch != 1:
        raise InvalidOptionError(f"a static-batch file runs batch 1 only: --trt-batch {batch} needs --dynamic-batch")
    files = files or TrtexecFiles.for_model(onnx_name)
    shape = f"{INPUT_NAME}:{batch}x{in_chans}x{img_size}x{img_size}"
    shapes = []
    if dynamic_batch:
        top = max(max_batch, batch)
        shapes = [f"--minShapes={INPUT_NAME}:1x{in_chans}x{img_size}x{img_size}", f"--optShapes={shape}",
                  f"--maxShapes={INPUT_NAME}:{top}x{in_chans}x{img_size}x{img_size}", f"--shapes={shape}"]  # fmt: skip
    args = ["trtexec", f"--onnx={onnx_name}", *shapes, "--stronglyTyped", f"--saveEngine={files.engine}",
            f"--exportTimes={files.times}", f"--exportProfile={files.profile}", "--separateProfileRun",
            "--profilingVerbosity=detailed"]  # fmt: skip
    return "set -o pipefail; " + " ".join(shlex.quote(a) for a in args) + f" 2>&1 | tee {shlex.quote(files.log)}"
