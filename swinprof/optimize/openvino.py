"""OpenVINO: `torch.export` -> `openvino.convert_model` -> the CPU plugin; int8 through NNCF post-training quantization.

The `openvino` runtime and its `nncf-int8` / `nncf-int8-smoothquant` methods are registered here beside their
handlers (extra `[openvino]`: openvino, nncf). API used (openvino 2026.4, nncf 3.4): `ov.convert_model(
ExportedProgram)`, `ov.Core().compile_model(model, "CPU", {INFERENCE_PRECISION_HINT, PERFORMANCE_HINT,
INFERENCE_NUM_THREADS})`, `ov.save_model(model, xml, compress_to_fp16=False)`, `nncf.quantize(model, Dataset,
model_type=ModelType.TRANSFORMER, ignored_scope=IgnoredScope(names=...), advanced_parameters=
AdvancedQuantizationParameters(smooth_quant_alphas=..., overflow_fix=...))`.

OpenVINO names its ops `<torch.export node>/<aten op>/<op type>`, so the recipe's module-name globs (`include`,
`skip`) select ops through the exported program's module stack: MatMul/Convolution ops traced inside a module the
globs leave out go into NNCF's ignored scope and stay in floating point. The default method turns SmoothQuant
off: on swin_s it cost 22 dB of SQNR (32.0 -> 10.1 dB) for no measurable speed, on swin_t 0.4 dB (29.8 -> 29.3),
both with seeded random-init weights (recipes/openvino-int8.toml says how it was measured).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from swinprof.errors import DeviceUnavailableError, SwinprofError, require_extra
from swinprof.optimize.exported import MAX_EXPORT_BATCH, export_program, node_modules
from swinprof.optimize.methods import (
    OTHER,
    MethodJob,
    MethodSpec,
    Quantized,
    RuntimeSpec,
    apply_method,
    method_kind,
    register_method,
    register_runtime,
)
from swinprof.optimize.proof import QuantizedCount, count_linears
from swinprof.optimize.pt2e import resolve_reduce_range
from swinprof.optimize.selection import matches

if TYPE_CHECKING:
    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.recipe import Recipe

EXTRA = "openvino"
_TESTS = "tests/optimize/test_openvino.py"
WEIGHTED_OPS = ("MatMul", "Convolution")
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
# What the CPU plugin lists in OPTIMIZATION_CAPABILITIES for a precision, and the instructions behind it.
PRECISION_NEEDS = {"bf16": ("BF16", "AVX512_BF16/AMX"), "fp16": ("FP16", "AVX512_FP16/AMX-FP16")}
# Ops a quantized weight or activation passes through on its way to a MatMul/Convolution (weight
# decompression: int8 Constant -> Convert -> Subtract -> Multiply; layout ops around FakeQuantize).
_PASS_THROUGH = {"Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Squeeze", "Unsqueeze"}


class OpenVinoError(SwinprofError):
    """OpenVINO or NNCF could not convert, quantize or compile the model."""


def _ov():
    return require_extra("openvino", EXTRA, "the OpenVINO runtime")


@functools.lru_cache(maxsize=1)
def _core():
    return _ov().Core()


def _one_line(exc: BaseException) -> str:
    """The line of an OpenVINO message that says what failed (its messages are multi-line C++ reports)."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip(" -")]
    named = [line for line in lines if "No conversion rule" in line or "not supported" in line.lower()]
    return (named or lines or [type(exc).__name__])[-1]


def _ov_errors() -> tuple[type[BaseException], ...]:
    frontend = _ov().frontend
    return (RuntimeError, frontend.OpConversionFailure, frontend.GeneralFailure)


@dataclass
class OvWork:
    """The runtime's form of the model while a method applies: the `openvino.Model`, and the module each of its
    ops was traced in (by op name; "" for the top-level forward)."""

    model: Any
    op_modules: dict[str, str]

    def weighted_ops(self) -> list[tuple[str, str]]:
        """`(op name, module name)` of every MatMul/Convolution op, in graph order."""
        return [(op.get_friendly_name(), self.op_modules.get(op.get_friendly_name(), ""))
                for op in self.model.get_ordered_ops() if op.get_type_name() in WEIGHTED_OPS]  # fmt: skip


def _decoder(program: torch.export.ExportedProgram):
    from openvino.frontend.pytorch.fx_decoder import TorchFXPythonDecoder

    return TorchFXPythonDecoder.from_exported_program(program)


def convert(model: nn.Module, dynamic_batch: bool = True) -> OvWork:
    """The eval-mode fp32 `model` as an OpenVINO model, converted from its `torch.export` program."""
    ov = _ov()
    try:
        program = export_program(model, model.config.img_size, dynamic_batch)
    except RuntimeError as exc:
        raise OpenVinoError(f"torch.export failed before OpenVINO conversion: {_one_line(exc)}") from exc
    try:
        # The decoder applies OpenVINO's decompositions (conv2d -> convolution, matmul -> bmm, ...) once; its
        # graph is the one whose node names the converted ops carry.
        decoder = _decoder(program)
        converted = ov.convert_model(decoder)
        # The converted input leaves every dimension but the channels open; the program fixes H and W (and the
        # batch unless it is dynamic). Saying so makes the IR describe its input and lets the plugin check it.
        size = model.config.img_size
        batch = ov.Dimension(1, MAX_EXPORT_BATCH) if dynamic_batch else ov.Dimension(1)
        converted.reshape({converted.input(0): ov.PartialShape([batch, model.config.in_chans, size, size])})
    except _ov_errors() as exc:
        raise OpenVinoError(f"OpenVINO could not convert the model: {_one_line(exc)}") from exc
    modules = node_modules(decoder.pt_module.graph)
    ops = {op.get_friendly_name(): modules.get(op.get_friendly_name().split("/")[0], "")
           for op in converted.get_ordered_ops()}  # fmt: skip
    return OvWork(converted, ops)


class OvModel:
    """A compiled OpenVINO model as a `(B, 3, H, W)` fp32 tensor -> `(B, classes)` logits callable.

    The CPU plugin is given one static shape per input shape it sees: the `openvino.Model` (a dynamic-batch IR
    serves every batch size) is reshaped to the call's shape and compiled for it, once, then reused (one infer
    request per shape; calls are sequential). A static shape lets the plugin plan memory and kernels ahead: on
    swin_s 224 at batch 1 it ran 1.08x / 1.11x faster than one dynamic-shape compile of the same IR (two
    interleaved runs on the project's 2-core CPU), 0.99x / 1.07x at batch 8. The first call at a new shape pays the
    compile (the run table's "first call s"); at most `MAX_SHAPES` compiled shapes are kept, least recent dropped.
    """

    MAX_SHAPES = 4

    def __init__(self, model, config: dict[str, Any]) -> None:
        self.model = model
        self.config = config
        self._requests: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        shape = self._first_shape(model)
        # Compile the most common shape now, so a model the plugin rejects fails while the recipe prepares.
        self.compiled = self._request(shape).get_compiled_model() if shape else self._compile(model)

    @staticmethod
    def _first_shape(model) -> tuple[int, ...] | None:
        """The input shape at batch 1, or None when a dimension other than the batch is dynamic."""
        dims = list(model.input(0).get_partial_shape())
        if any(d.is_dynamic for d in dims[1:]):
            return None
        return (1, *(d.get_length() for d in dims[1:]))

    def _compile(self, model):
        try:
            return _core().compile_model(model, "CPU", self.config)
        except _ov_errors() as exc:
            raise OpenVinoError(f"OpenVINO could not compile the model for CPU: {_one_line(exc)}") from exc

    def _request(self, shape: tuple[int, ...]):
        if shape in self._requests:
            self._requests.move_to_end(shape)
            return self._requests[shape]
        model, declared = self.model, self.model.input(0).get_partial_shape()
        if not declared.compatible(_ov().PartialShape(list(shape))):
            raise OpenVinoError(
                f"this OpenVINO model takes input shape {declared}, not {list(shape)} (a recipe "
                "with [export] dynamic_batch = true converts one that takes every batch size)"
            )
        if declared.is_dynamic:
            model = model.clone()
            model.reshape({model.input(0): shape})
        request = self._compile(model).create_infer_request()
        self._requests[shape] = request
        if len(self._requests) > self.MAX_SHAPES:
            self._requests.popitem(last=False)
        return request

    @property
    def compiled_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes of the compiled models kept, as the plugin reports them, least recent first."""
        return [tuple(r.get_compiled_model().input(0).get_shape()) for r in self._requests.values()]

    def node_times(self, shape: tuple[int, ...]) -> list[tuple[str, str, float]]:
        """`(node type, original ops, ms)` of every executed node in the last call at `shape`, from OpenVINO's
        own counters (needs a model compiled with `profile=True`, else the plugin reports none). `original ops`:
        the comma-separated names of the converted model's ops the plugin fused into the node (its runtime
        model's `originalLayersNames`, `<node>/<aten op>/<op type>` each), e.g. a "Subgraph" that is a whole
        attention (scale, mask add, softmax, SDPA, transpose)."""
        request = self._requests[shape]
        fused = {op.get_friendly_name(): str(op.get_rt_info()["originalLayersNames"].astype(str))
                 for op in request.get_compiled_model().get_runtime_model().get_ordered_ops()}  # fmt: skip
        return [(i.node_type, fused.get(i.node_name, i.node_name), i.real_time.total_seconds() * 1e3)
                for i in request.profiling_info]  # fmt: skip

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        feed = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._request(feed.shape).infer(feed, share_inputs=True)[0])


def compile_ov(model, precision: str = "fp32", threads: int | None = None, profile: bool = False) -> OvModel:
    """Compile for the CPU plugin at `precision` (fp32 stays fp32 even on a bf16-capable CPU, which OpenVINO
    would otherwise pick by itself), latency mode, with PyTorch's thread count so the runtimes compare fairly;
    one static-shape compile per input shape (OvModel). `profile`: per-node timing on (`OvModel.node_times`;
    it slows every call)."""
    config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision], "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(), "PERF_COUNT": profile}  # fmt: skip
    return OvModel(model, config)


def save(model, path: Path) -> tuple[Path, Path]:
    """Write the model as IR `path` (.xml) + its `.bin`, weights as they are (no fp16 compression)."""
    _ov().save_model(model, str(path), compress_to_fp16=False)
    return path, path.with_suffix(".bin")


def _from_int8(output, hops: int = 4) -> bool:
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind == "Constant":
        return node.get_element_type().get_type_name() in ("i8", "u8")
    if kind in _PASS_THROUGH and hops > 0:
        return any(_from_int8(i.get_source_output(), hops - 1) for i in node.inputs())
    return False


def quantized_ops(model) -> list[str]:
    """Names of the MatMul/Convolution ops with an int8 input (a FakeQuantize or an int8 weight upstream)."""
    weighted = (op for op in model.get_ordered_ops() if op.get_type_name() in WEIGHTED_OPS)
    return [op.get_friendly_name() for op in weighted if any(_from_int8(i.get_source_output()) for i in op.inputs())]


def float_scope(work: OvWork, include: Sequence[str], skip: Sequence[str]) -> list[str]:
    """MatMul/Convolution ops traced inside a module that `include` leaves out or `skip` matches (a glob that
    matches a module covers everything below it, as for the PyTorch methods)."""
    return [name for name, module in work.weighted_ops() if not matches(module, include) or matches(module, skip)]


def _calibration_samples(batches: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """One `(1, 3, H, W)` array per image: NNCF's statistics treat each dataset item as one sample."""
    return [image[None].cpu().numpy().astype(np.float32) for batch in batches for image in batch]


def _nncf_parameters(nncf, smooth_quant: bool, reduce_range: str):
    """SmoothQuant off (alpha -1) unless asked; NNCF's overflow fix (7-bit weights) on every layer where the CPU
    lacks VNNI, whose u8*s8 int16 products saturate (`reduce_range`, as for the PT2E and ONNX Runtime paths)."""
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
        OverflowFix,
    )

    alphas = AdvancedSmoothQuantParameters() if smooth_quant else AdvancedSmoothQuantParameters(matmul=-1)
    overflow = OverflowFix.ENABLE if resolve_reduce_range(reduce_range) else OverflowFix.FIRST_LAYER
    return AdvancedQuantizationParameters(smooth_quant_alphas=alphas, overflow_fix=overflow), overflow


@contextlib.contextmanager
def _nncf_quiet() -> Iterator[None]:
    """NNCF logs INFO lines through its own handler on stdout and draws rich progress bars on stdout: both would
    land in `--format json` output. Its records go to the root logger instead (where the CLI collects other
    packages' warnings, shown with -v) and its progress bars nowhere (the CLI shows its own progress)."""

    from nncf.common.logging.logger import nncf_logger

    handlers, propagate = list(nncf_logger.handlers), nncf_logger.propagate
    for handler in handlers:
        nncf_logger.removeHandler(handler)
    nncf_logger.propagate = True
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            yield
    finally:
        nncf_logger.propagate = propagate
        for handler in handlers:
            nncf_logger.addHandler(handler)


def quantize_nncf(job: MethodJob, smooth_quant: bool = False) -> Quantized:
    """NNCF post-training int8 of `job.work` (an OvWork): transformer model type, calibrated on `job.calibration`,
    ops of skipped modules in NNCF's ignored scope."""
    nncf = require_extra("nncf", EXTRA, "NNCF int8 quantization")
    work: OvWork = job.work
    samples = _calibration_samples(job.calibration)
    if not samples:
        raise OpenVinoError(f"{job.name}: NNCF int8 needs calibration images ([quantize.calibration] count)")
    ignored = float_scope(work, job.include, job.skip)
    params, overflow = _nncf_parameters(nncf, smooth_quant, job.reduce_range)
    try:
        with _nncf_quiet():
            quantized = nncf.quantize(
                work.model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(samples),
                ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None, advanced_parameters=params,
            )  # fmt: skip
    except (*_ov_errors(), nncf.errors.ValidationError) as exc:
        raise OpenVinoError(f"NNCF could not quantize the model: {_one_line(exc)}") from exc
    ops = quantized_ops(quantized)
    layers = list(dict.fromkeys(work.op_modules.get(name, "") for name in ops))
    note = (f"NNCF int8 PTQ (transformer), SmoothQuant {'on (alpha 0.95)' if smooth_quant else 'off'}, overflow fix "
            f"{overflow.value}, {len(samples)} calibration images; {len(ops)} MatMul/Convolution ops int8, "
            f"{len(ignored)} kept float (ignored scope from [quantize] skip)")  # fmt: skip
    return Quantized(OvWork(quantized, work.op_modules), layers, [note])


NNCF_INT8 = MethodSpec("openvino", ("cpu",), extra=EXTRA, module="nncf", calibrated=True, kind="int8",
                       packages=("nncf",),
                       tested_by=f"{_TESTS}::test_int8_keeps_fidelity_and_reports_what_it_quantized",
                       summary="NNCF int8 PTQ for OpenVINO (transformer, SmoothQuant off: Swin default)",
                       weight_bits=8, activation_bits=8)  # fmt: skip


@register_method("nncf-int8", dataclasses.replace(NNCF_INT8, candidates=("openvino-int8",)))
def nncf_int8(job: MethodJob) -> Quantized:
    return quantize_nncf(job, smooth_quant=False)


SMOOTHQUANT = dataclasses.replace(
    NNCF_INT8, summary="NNCF int8 PTQ, SmoothQuant on", tested_by=f"{_TESTS}::test_smoothquant_keeps_fidelity"
)


@register_method("nncf-int8-smoothquant", SMOOTHQUANT)
def nncf_int8_smoothquant(job: MethodJob) -> Quantized:
    """NNCF's own default for transformers (SmoothQuant alpha 0.95 on MatMuls), kept for comparison."""
    return quantize_nncf(job, smooth_quant=True)


def check_precision(recipe: Recipe) -> None:
    """Machine check: bf16/fp16 inference only where the CPU plugin offers it (else one line, exit 2)."""
    need = PRECISION_NEEDS.get(recipe.target.precision)
    if need is None:
        return
    offered = list(_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if need[0] not in offered:
        raise DeviceUnavailableError(
            f"recipe {recipe.name!r}: {recipe.target.precision} inference in OpenVINO's CPU plugin needs {need[1]}; "
            f"this CPU offers {', '.join(offered)} (use openvino-fp32 or openvino-int8)"
        )


def count_openvino(recipe: Recipe, prepared: Prepared, model: nn.Module) -> QuantizedCount | None:
    """The OpenVINO proof counter: linears (`aten.linear` calls of the exported program) whose FullyConnected node
    the CPU plugin runs in i8/u8, read from the compiled model's runtime graph (`runtimePrecision`)."""
    compiled = getattr(prepared.fn, "compiled", None)
    if compiled is None:
        return None
    return QuantizedCount(len(int8_linears(compiled)), count_linears(model), method_kind(recipe.quantize.method),
                          "FullyConnected nodes the CPU plugin runs in i8/u8")  # fmt: skip


def int8_linears(compiled) -> set[str]:
    """Export-node names (`linear_3`) of the linears a compiled model's FullyConnected nodes run in i8/u8: each
    runtime node lists the converted ops it executes (`originalLayersNames`, `<node>/<aten op>/<op type>`)."""
    out = set()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if str(info["layerType"].astype(str)) != "FullyConnected":
            continue
        if str(info["runtimePrecision"].astype(str)).lower() not in ("i8", "u8"):
            continue
        names = str(info["originalLayersNames"].astype(str)).split(",")
        out |= {name.split("/")[0] for name in names if "/aten.linear" in name}
    return out


OPENVINO = RuntimeSpec(
    devices=("cpu",), extra=EXTRA, modules=("openvino",), check=check_precision,
    candidates=("openvino-fp32", "openvino-bf16"),
    summary="torch.export, then OpenVINO's CPU plugin (IR saved as .xml/.bin)",
    title="OpenVINO", packages=("openvino",), count_quantized=count_openvino,
    count_evidence="FullyConnected nodes OpenVINO's CPU plugin runs in i8/u8", size_meter="the IR's .bin file",
    gap_role={"fp32": OTHER, "int8": OTHER}, selfcheck="recipe openvino-int8",
    tested_by=f"{_TESTS}::test_fp32_matches_pytorch_at_two_batch_sizes_through_one_ir",
)  # fmt: skip


@register_runtime("openvino", OPENVINO)
def prepare_openvino(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Export, convert, apply the method to the OpenVINO model, save the IR (artifacts) and compile it."""
    from swinprof.optimize.prepare import Prepared

    work = convert(model, recipe.export.dynamic_batch)
    q = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, work, calibration, workdir))
    xml, weights = save(q.work.model, workdir / f"{recipe.name}.xml")
    fn = compile_ov(q.work.model, recipe.target.precision)
    batch = "dynamic-batch IR, compiled per batch size" if recipe.export.dynamic_batch else "static-batch IR"
    note = (f"OpenVINO {_ov().__version__.split('-')[0]} CPU plugin, {recipe.target.precision}, "
            f"{fn.compiled.get_property('INFERENCE_NUM_THREADS')} threads, {batch}")  # fmt: skip
    return Prepared(recipe.name, fn, 0.0, weights.stat().st_size, q.layers, {"xml": xml, "bin": weights},
                    [note, *q.notes])  # fmt: skip
