"""Where int8 error is born: every tensor of a quantized ONNX file against the same tensor of its fp32 file.

Both files run in ONNX Runtime on the same images with their intermediate tensors exposed (`ort_tensors`; Q/DQ run
as written). Each float tensor of the quantized file is matched to the fp32 file's tensor it stands for: by the
rename map swinprof records in its files (`x_qdq_dq` is `x` after Q/DQ), else by name, else by walking back through
the ops that only quantize, dequantize or retype a value (QuantizeLinear, DequantizeLinear, Cast, Identity), which
matches another tool's files too (ModelOpt names `x_DequantizeLinear_Output`). Per tensor, over all images:
SQNR = 10 log10(sum ref^2 / sum (ref - test)^2) in dB, and the drop of the op that wrote it: the SQNR of its worst
matched input minus its own (what that op lost). Rows are in the quantized file's graph order, attributed to the
module that wrote the fp32 tensor (the exporter's name scopes), and grouped by block.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from swinprof.errors import SwinprofError
from swinprof.optimize.ort_tensors import TensorReader, static_batch, tensor_sources
from swinprof.optimize.qdq_onnx import node_module
from swinprof.optimize.qdq_terms import DEFAULT_THRESHOLD_DB
from swinprof.optimize.trt_rules import read_onnx

PASS_BACK = ("QuantizeLinear", "DequantizeLinear", "Cast", "Identity")
# Ops that only move data: walking back through them from a tensor finds the layer that computed it.
MOVES = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Concat", "Identity", "Cast", "Split",
         "Gather", "Expand", "Pad", "Roll")
FLOAT_KINDS = ("f",)  # numpy dtype kinds compared (float16/32/64)
# Identical tensors have infinite SQNR; a drop is computed from at most this (float16 rounding alone is ~70 dB, so
# an op reading an exact input is charged what it lost below 100 dB, not below infinity).
SQNR_CAP_DB = 100.0
_BLOCK = re.compile(r"^(layers\.\d+\.(?:blocks\.\d+|downsample))")


class LocalizationError(SwinprofError):
    """The two files cannot be compared (different inputs, nothing in common, no images)."""


@dataclass(frozen=True)
class TensorError:
    """One tensor of the quantized file against the fp32 file's tensor it stands for."""

    tensor: str
    reference: str
    op: str
    node: str
    module: str
    sqnr_db: float
    drop_db: float | None
    reads: str = ""  # the layer that computed the op's worst input (walking back through ops that move data)

    @property
    def block(self) -> str:
        found = _BLOCK.match(self.module)
        return found.group(1) if found else (self.module.split(".")[0] or "(graph input/output)")


@dataclass
class Localization:
    """The per-tensor errors in graph order, and what they point at."""

    rows: list[TensorError]
    threshold_db: float
    images: int

    @property
    def first_below(self) -> TensorError | None:
        """The first tensor, in graph order, whose SQNR is below the threshold."""
        return next((r for r in self.rows if r.sqnr_db < self.threshold_db), None)

    @property
    def largest_drop(self) -> TensorError | None:
        """The op that lost the most SQNR between its inputs and its output."""
        dropped = [r for r in self.rows if r.drop_db is not None]
        return max(dropped, key=lambda r: r.drop_db) if dropped else None

    def blocks(self) -> list[dict]:
        """Per block in graph order: its lowest SQNR, its largest drop and the op that made it."""
        out: dict[str, dict] = {}
        for r in self.rows:
            b = out.setdefault(r.block, {"block": r.block, "tensors": 0, "lowest SQNR dB": math.inf,
                                         "largest drop dB": None, "dropped by": "-"})  # fmt: skip
            b["tensors"] += 1
            b["lowest SQNR dB"] = min(b["lowest SQNR dB"], r.sqnr_db)
            if r.drop_db is not None and (b["largest drop dB"] is None or r.drop_db > b["largest drop dB"]):
                b["largest drop dB"], b["dropped by"] = r.drop_db, f"{r.op} {r.node}"
        return list(out.values())


def _float_outputs(graph) -> list[str]:
    """Node outputs in graph order (types are checked on the values: only float tensors are compared)."""
    return [out for node in graph.node for out in node.output if out]


def match_tensors(test, reference) -> dict[str, str]:
    """`{tensor of test: tensor of reference}` for every node output of `test` that stands for a tensor the
    reference graph computes or takes as input (see the module docstring for the order of the rules)."""
    known = set(_float_outputs(reference.graph)) | {i.name for i in reference.graph.input}
    sources = tensor_sources(test)
    producer = {out: n for n in test.graph.node for out in n.output}
    out = {}
    for tensor in [*(i.name for i in test.graph.input), *_float_outputs(test.graph)]:
        name, seen = tensor, 0
        while name not in known and seen < 16:
            seen += 1
            if sources.get(name, name) in known:
                name = sources[name]
                break
            node = producer.get(name)
            if node is None or node.op_type not in PASS_BACK:
                break
            name = node.input[0]
        if name in known:
            out[tensor] = name
    return out


class _Sums:
    """Running sums of ref^2 and (ref - test)^2 per tensor (float64), so no image's tensors are kept."""

    def __init__(self) -> None:
        self.signal: dict[str, float] = {}
        self.noise: dict[str, float] = {}

    def add(self, tensor: str, ref: np.ndarray, test: np.ndarray) -> None:
        r, t = ref.astype(np.float64), test.astype(np.float64)
        if r.shape != t.shape:
            raise LocalizationError(f"tensor {tensor!r} has shape {t.shape} here and {r.shape} in the fp32 file")
        self.signal[tensor] = self.signal.get(tensor, 0.0) + float(np.square(r).sum())
        self.noise[tensor] = self.noise.get(tensor, 0.0) + float(np.square(r - t).sum())

    def sqnr_db(self, tensor: str) -> float:
        noise, signal = self.noise[tensor], self.signal[tensor]
        if noise == 0:
            return math.inf
        return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def localize_error(
    test_path: str | os.PathLike,
    reference_path: str | os.PathLike,
    batches: Iterable[torch.Tensor],
    threshold_db: float = DEFAULT_THRESHOLD_DB,
) -> Localization:
    """Per-tensor SQNR of the quantized file `test_path` against the fp32 file `reference_path` over the `(B, C,
    H, W)` float32 image batches (read once; one batch of both files' tensors in memory at a time)."""
    test, reference = read_onnx(test_path), read_onnx(reference_path)
    pairs = match_tensors(test, reference)
    if len(pairs) <= 1:
        raise LocalizationError(f"{test_path} shares no computed tensor with {reference_path}: compare a quantized "
                                "file with the fp32 file it was made from")  # fmt: skip
    test_reader = TensorReader(test, list(pairs))
    ref_reader = TensorReader(reference, list(dict.fromkeys(pairs.values())))
    chunk = static_batch(test) or static_batch(reference)
    sums, images, floats = _Sums(), 0, None
    for batch in batches:
        for part in batch.split(chunk) if chunk else [batch]:
            got, want = test_reader.read(part), ref_reader.read(part)
            if floats is None:
                floats = [t for t in pairs if got[t].dtype.kind in FLOAT_KINDS and want[pairs[t]].dtype.kind in "f"]
            for t in floats:
                sums.add(t, want[pairs[t]], got[t])
            images += part.shape[0]
    if not images:
        raise LocalizationError("no images to compare the files on")
    return Localization(_rows(test, reference, pairs, floats, sums), threshold_db, images)


def _origin(producer: dict, tensor: str) -> str:
    """The module of the layer that computed `tensor` in the reference graph (`producer`: tensor -> node), walking
    back through ops that only move data (a Q/DQ'd reshape of a LayerNorm's output is the LayerNorm's)."""
    node = producer.get(tensor)
    while node is not None and node.op_type in MOVES and node.input:
        node = producer.get(node.input[0])
    return node_module(node) if node is not None else "input"


def _rows(test, reference, pairs: dict[str, str], floats: list[str], sums: _Sums) -> list[TensorError]:
    producer = {out: n for n in test.graph.node for out in n.output}
    ref_producer = {out: n for n in reference.graph.node for out in n.output}
    compared = set(floats)
    sqnr = {t: sums.sqnr_db(t) for t in floats}

    def incoming(tensor: str, depth: int = 0) -> list[str]:
        """The compared tensors an op reads, looking through ones not compared (a QuantizeLinear's int8 output)."""
        if tensor in compared or depth > 8:
            return [tensor] if tensor in compared else []
        node = producer.get(tensor)
        return [s for t in (node.input if node is not None else []) for s in incoming(t, depth + 1)]

    rows = []
    for t in floats:
        node = producer.get(t)
        reads = [s for i in (node.input if node is not None else []) for s in incoming(i)]
        worst = min(reads, key=lambda r: sqnr[r]) if reads else None
        drop = min(sqnr[worst], SQNR_CAP_DB) - min(sqnr[t], SQNR_CAP_DB) if worst else None
        ref_node = ref_producer.get(pairs[t])
        rows.append(TensorError(
            t, pairs[t], node.op_type if node is not None else "input", node.name if node is not None else t,
            node_module(ref_node) if ref_node is not None else "", sqnr[t], drop,
            _origin(ref_producer, pairs[worst]) if worst else "",
        ))  # fmt: skip
    return rows


def localization_report(loc: Localization, test_path, reference_path, source: str):
    """A Report: what the error points at, per block, and per tensor in graph order."""
    import pandas as pd

    from swinprof.report.document import Report

    report = Report(f"Where int8 error is born: {os.path.basename(test_path)} vs {os.path.basename(reference_path)}")
    first, drop = loc.first_below, loc.largest_drop
    summary = [_finding(f"first tensor below {loc.threshold_db:g} dB", first),
               _finding("largest drop (the op that lost most)", drop)]
    meter = (f"SQNR dB = 10 log10(sum ref^2 / sum (ref - test)^2) over {loc.images} images ({source}); "
             "ONNX Runtime, CPU, Q/DQ run as written")  # fmt: skip
    report.add("summary", "What the error points at", pd.DataFrame(summary),
               [meter, "reads: the layer that computed the op's worst input (through ops that only move data)"],
               essential=("finding", "module", "reads", "SQNR dB"))  # fmt: skip
    blocks = [{**b, "lowest SQNR dB": _finite(b["lowest SQNR dB"])} for b in loc.blocks()]
    report.add("blocks", "Per block, in graph order", pd.DataFrame(blocks),
               "drop: SQNR of the op's worst input minus its output's (dB lost by that op); SQNR empty: identical "
               "to fp32",
               essential=("block", "lowest SQNR dB", "largest drop dB"))  # fmt: skip
    rows = [{"tensor": r.tensor, "op": r.op, "module": r.module or "?", "SQNR dB": _finite(r.sqnr_db),
             "drop dB": r.drop_db, "reads": r.reads or "-", "fp32 tensor": r.reference} for r in loc.rows]  # fmt: skip
    report.add("tensors", "Every matched tensor, in graph order", pd.DataFrame(rows), meter,
               essential=("tensor", "SQNR dB", "drop dB"), secondary=("module",))  # fmt: skip
    return report


def _finding(what: str, row: TensorError | None) -> dict:
    if row is None:
        return {"finding": what, "tensor": "none", "op": "-", "module": "-", "reads": "-", "SQNR dB": None,
                "drop dB": None}  # fmt: skip
    return {"finding": what, "tensor": row.tensor, "op": f"{row.op} {row.node}", "module": row.module or "?",
            "reads": row.reads or "-", "SQNR dB": _finite(row.sqnr_db), "drop dB": row.drop_db}  # fmt: skip


def _finite(db: float) -> float | None:
    """SQNR for a table: None (printed empty) where the tensors are identical (infinite SQNR)."""
    return db if math.isfinite(db) else None
