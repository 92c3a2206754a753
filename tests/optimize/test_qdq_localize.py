"""Where int8 error is born: on a tiny model where one LayerNorm's channels are planted with outliers (the same fp32
function, a tensor per-tensor int8 cannot hold), the localization names that layer first; the matching works by
the recorded rename map and by walking through Q/DQ (another tool's names); the CLI runs it end to end."""

from __future__ import annotations

import functools

import onnx
import pytest

from swinprof.cli.main import main
from swinprof.measure.inputs import iter_seeded_batches
from swinprof.optimize.onnx import export_onnx
from swinprof.optimize.qdq_localize import localize_error, match_tensors
from swinprof.optimize.qdq_onnx import quantize_qdq
from swinprof.optimize.recipe import DEFAULT_SKIP
from swinprof.studies.outliers import plant_outlier_channels
from tests.optimize.qdq_tiny import SHAPE, SMALL, session_folder
from tests.optimize.tiny import tiny_model

CULPRIT = "layers.2.blocks.0.norm2"  # a middle layer: stage 2's MLP input


@functools.cache
def culprit_files():
    """`(fp32 path, int8 path)` of the tiny model with outlier channels planted at CULPRIT only."""
    model = tiny_model(**SMALL)
    plant_outlier_channels(model, factor=300.0, channels=2, layers=[CULPRIT])
    folder = session_folder()
    fp32 = export_onnx(model, folder / "culprit.fp32.onnx", 64, dynamic_batch=True)
    modules = {n for n, _ in model.named_modules()}
    result = quantize_qdq(fp32, folder / "culprit.int8.onnx", iter_seeded_batches(16, 8, SHAPE), "seeded",
                          skip=DEFAULT_SKIP, modules=modules)  # fmt: skip
    return fp32, result.path


def test_the_tampered_layer_is_named_first():
    fp32, int8 = culprit_files()
    found = localize_error(int8, fp32, iter_seeded_batches(8, 4, SHAPE, seed=5), threshold_db=20.0)
    first, drop = found.first_below, found.largest_drop
    assert first is not None and first.reads == CULPRIT  # the first tensor below 20 dB reads the planted layer
    assert drop.reads == CULPRIT  # its Q/DQ or the Linear reading it (weights scaled 1/300) loses the most
    before = [r for r in found.rows[: found.rows.index(first)] if r.op != "input"]
    assert before and min(r.sqnr_db for r in before) >= 20.0  # everything ahead of it is fine
    assert found.images == 8 and found.rows[0].tensor == "images"


def test_matching_uses_the_rename_map_and_walks_through_qdq_and_casts():
    fp32, int8 = culprit_files()
    test, reference = onnx.load(str(int8)), onnx.load(str(fp32))
    pairs = match_tensors(test, reference)
    dq = [t for t in pairs if t.endswith("_qdq_dq")]
    assert dq and all(pairs[t] == t.removesuffix("_qdq_dq") for t in dq)
    assert pairs["images_fp16"] == "images" and pairs["logits"] == "logits"
    sources = next(p for p in test.metadata_props if p.key == "swinprof.tensor_sources")
    del test.metadata_props[:]  # another tool's file: no map, names of its own
    for node in test.graph.node:
        node.output[:] = [o.replace("_qdq_dq", "_DequantizeLinear_Output") for o in node.output]
        node.input[:] = [i.replace("_qdq_dq", "_DequantizeLinear_Output") for i in node.input]
    walked = match_tensors(test, reference)
    renamed = {t.replace("_qdq_dq", "_DequantizeLinear_Output"): v for t, v in pairs.items()}
    assert sources.value and {t: walked.get(t) for t in renamed if "_DequantizeLinear_" in t} == {
        t: v for t, v in renamed.items() if "_DequantizeLinear_" in t}  # fmt: skip


def test_the_cli_names_the_culprit(capsys):
    fp32, int8 = culprit_files()
    assert main(["check-onnx", str(int8), "--against", str(fp32), "--count", "8", "--batch", "4", "--format",
                 "json"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert CULPRIT in out and "first tensor below 20 dB" in out and "int8 share of GEMM MACs" in out


@pytest.mark.parametrize("args, says", [
    (["--data", "."], "add --against"), (["--against", "{fp32}", "--data", "."], "--data needs --model"),
])  # fmt: skip
def test_localization_options_are_checked(capsys, args, says):
    fp32, int8 = culprit_files()
    assert main(["check-onnx", str(int8), *[a.format(fp32=fp32) for a in args]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
