"""One tiny seeded model exported once per test session: fp32 ONNX and its explicit-Q/DQ version (the export is
the slow part, ~10-20 s on the shared 2-core machine, so every Q/DQ test reuses these files)."""

from __future__ import annotations

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
def tiny_qdq() -> tuple[object, Path, QdqResult]:
    """`(model, fp32 ONNX path, Q/DQ result)` with the recipes' default skip list, max calibrator on 16 seeded
    images; the files live in a temporary folder for the session."""
    model = tiny_model(**SMALL)
    folder = Path(tempfile.mkdtemp(prefix="swinprof-qdq-test-"))
    fp32 = export_onnx(model, folder / "tiny.fp32.onnx", 64, dynamic_batch=True)
    modules = {name for name, _ in model.named_modules()}
    result = quantize_qdq(fp32, folder / "tiny.qdq.onnx", seeded_batches(16, 8, SHAPE), "seeded random inputs",
                          skip=DEFAULT_SKIP, modules=modules)  # fmt: skip
    return model, fp32, result
