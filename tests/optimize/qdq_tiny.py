"""One tiny seeded model exported once per test session: fp32 ONNX and its explicit-Q/DQ versions (the export is
the slow part, ~10-20 s on the shared 2-core machine, so every Q/DQ test reuses these files). The files live in one
temporary folder that is removed when the test process exits."""

from __future__ import annotations

import atexit
import functools
import tempfile
from pathlib import Path

from swinprof.measure.inputs import seeded_batches
from swinprof.optimize.onnx import export_onnx
from swinprof.optimize.qdq_onnx import QdqResult, quantize_qdq
from swinprof.optimize.recipe import DEFAULT_SKIP
from tests.optimize.tiny import tiny_model

# Stage 0 keeps two blocks (plain and shifted windows); the rest one block each, to keep the export short.
SMALL = dict(depths=(2, 1, 1, 1), embed_dim=16, num_heads=(1, 2, 2, 4))
SHAPE = (3, 64, 64)


@functools.cache
def session_folder() -> Path:
    """The session's folder for exported files, removed at exit (with everything in it)."""
    folder = tempfile.TemporaryDirectory(prefix="swinprof-qdq-test-")
    atexit.register(folder.cleanup)
    return Path(folder.name)


@functools.cache
def tiny_fp32() -> tuple[object, Path]:
    """`(model, fp32 ONNX path)`: the tiny model exported with a dynamic batch."""
    model = tiny_model(**SMALL)
    return model, export_onnx(model, session_folder() / "tiny.fp32.onnx", 64, dynamic_batch=True)


@functools.cache
def tiny_qdq(high_precision: str = "fp16", residual: bool = False) -> tuple[object, Path, QdqResult]:
    """`(model, fp32 ONNX path, Q/DQ result)` with the recipes' default skip list, max calibrator on 16 seeded
    images; `high_precision` / `residual` as `quantize_qdq` takes them (the default: the mixed fp16 file)."""
    model, fp32 = tiny_fp32()
    modules = {name for name, _ in model.named_modules()}
    name = f"tiny.qdq.{high_precision}{'.residual' if residual else ''}.onnx"
    result = quantize_qdq(fp32, session_folder() / name, seeded_batches(16, 8, SHAPE), "seeded random inputs",
                          skip=DEFAULT_SKIP, modules=modules, high_precision=high_precision,
                          residual=residual)  # fmt: skip
    return model, fp32, result
