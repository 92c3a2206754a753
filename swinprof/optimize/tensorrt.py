"""TensorRT through torch-tensorrt's dynamo frontend, strongly typed (TensorRT 10.12+ and 11; torch-tensorrt 2.x).

UNVERIFIED in this project: torch-tensorrt and TensorRT could not be installed on the machines available (TensorRT's
libraries are over 1 GB; see docs/deploy-jetson.md). Written against torch-tensorrt's documented API:
`torch.export.export` -> `torch_tensorrt.dynamo.compile(exported, inputs=[torch_tensorrt.Input(min_shape,
opt_shape, max_shape)], use_explicit_typing=True, ...)`. TensorRT 11 builds strongly typed networks only (its
FP16/INT8 builder flags and INT8 calibrators are gone) and torch-tensorrt deprecated `enabled_precisions` to match:
- fp16: rule-based autocast (`enable_autocast=True, low_precision_type=torch.float16`) inserts the casts, with
  LayerNorm and Softmax excluded (`nodes_to_exclude`, regexes on the exported node names) so they stay fp32;
- int8: from the Q/DQ nodes in the module itself: NVIDIA ModelOpt (`mtq.quantize(model, mtq.INT8_DEFAULT_CFG,
  forward_loop)`) inserts calibrated int8 fake-quant, exported under ModelOpt's `export_torch_mode()`; no precision
  flag, no calibrator.
For `trtexec` on a Jetson (no Python on the device), `swinprof export onnx-int8` / `onnx-fp16` write the graph.
The `tensorrt` runtime and its `trt-int8` method are registered here beside their handlers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from swinprof.errors import DeviceUnavailableError, RecipeError, require_extra
from swinprof.optimize.methods import (
    MethodJob,
    MethodSpec,
    Quantized,
    RuntimeSpec,
    apply_method,
    register_method,
    register_runtime,
)
from swinprof.optimize.selection import selected_modules

if TYPE_CHECKING:
    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.recipe import Recipe

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Kept in fp32 by autocast: the reductions TensorRT's guidance keeps out of fp16 (exported aten node names).
FP32_NODES = frozenset({r"^layer_norm(_\d+)?$", r"^softmax(_\d+)?$", r"^_softmax(_\d+)?$"})


def _require_cuda() -> None:
    if not torch.cuda.is_available():
        raise DeviceUnavailableError("TensorRT needs an NVIDIA GPU with CUDA; none is available here")


def calibrate_int8_modelopt(
    model: nn.Module, calibration: Iterable[torch.Tensor], include: Iterable[str], skip: Iterable[str]
) -> nn.Module:
    """A copy of `model` with ModelOpt int8 QDQ (per-tensor activations, per-channel weights), calibrated.

    Skipped layers get their quantizers disabled by module-name wildcard (ModelOpt's `quant_cfg` keys).
    """
    mtq = require_extra("modelopt.torch.quantization", "tensorrt", "TensorRT int8 calibration (NVIDIA ModelOpt)")
    model = copy.deepcopy(model).eval()
    quantized = set(selected_modules(model, include, skip, (nn.Linear, nn.Conv2d)))
    config = copy.deepcopy(mtq.INT8_DEFAULT_CFG)
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear | nn.Conv2d) and name not in quantized:
            config["quant_cfg"][f"*{name}*"] = {"enable": False}
    batches = list(calibration)

    def forward_loop(m: nn.Module) -> None:
        with torch.no_grad():
            for batch in batches:
                m(batch.cuda())

    mtq.quantize(model, config, forward_loop=forward_loop)
    return model


def compile_tensorrt(
    model: nn.Module,
    img_size: int,
    precision: str = "fp16",
    int8: bool = False,
    max_batch: int = 32,
    opt_batch: int = 1,
    workspace_gb: float = 2.0,
    min_block_size: int = 1,
):
    """A TensorRT-backed `torch.fx.GraphModule` taking `(B, 3, H, W)` with 1 <= B <= max_batch, on CUDA."""
    _require_cuda()
    trt = require_extra("torch_tensorrt", "tensorrt", "TensorRT compilation")
    model = model.eval().cuda()
    c = model.config.in_chans if hasattr(model, "config") else 3
    # torch.export specialises a size-1 dimension, so the dynamic batch is traced with at least 2 images.
    example = torch.randn(max(opt_batch, 2), c, img_size, img_size, device="cuda")
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    spec = trt.Input(
        min_shape=(1, c, img_size, img_size),
        opt_shape=(opt_batch, c, img_size, img_size),
        max_shape=(max_batch, c, img_size, img_size),
        dtype=torch.float32,
    )
    if int8:
        export_mode = require_extra("modelopt.torch.quantization.utils", "tensorrt", "TensorRT int8").export_torch_mode
    else:
        from contextlib import nullcontext as export_mode
    with torch.no_grad(), export_mode():
        exported = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}}, strict=False)
        workspace = int(workspace_gb * (1 << 30))
        settings = typing_settings(precision)
        return trt.dynamo.compile(exported, inputs=[spec], workspace_size=workspace, min_block_size=min_block_size,
                                  **settings)  # fmt: skip


def typing_settings(precision: str) -> dict:
    """torch_tensorrt.dynamo.compile keywords for a strongly typed build in `precision` (fp32: the model's own
    types; fp16/bf16: rule-based autocast with LayerNorm/Softmax kept fp32). int8 needs no keyword: it comes
    from the module's Q/DQ nodes."""
    settings: dict = {"use_explicit_typing": True}
    if precision != "fp32":
        low = PRECISIONS[precision]
        settings.update(enable_autocast=True, low_precision_type=low, nodes_to_exclude=set(FP32_NODES))
    return settings


TRT_INT8 = MethodSpec("tensorrt", ("cuda",), extra="tensorrt", module="modelopt", calibrated=True,
                      summary="TensorRT int8 from ModelOpt Q/DQ (strongly typed)", kind="int8",
                      packages=("nvidia-modelopt",), weight_bits=8, activation_bits=8,
                      tested_by="tests/optimize/test_tensorrt.py::test_engine_matches_fp32")  # fmt: skip


@register_method("trt-int8", TRT_INT8)
def trt_int8(job: MethodJob) -> Quantized:
    """ModelOpt int8 Q/DQ, calibrated; the runtime builds a strongly typed engine, int8 where the Q/DQ nodes say."""
    calibrated = calibrate_int8_modelopt(job.model, job.calibration, job.include, job.skip)
    layers = selected_modules(job.model, job.include, job.skip, (nn.Linear, nn.Conv2d))
    return Quantized(calibrated, layers, precision="int8")


def _check_batches(recipe: Recipe) -> None:
    if max(recipe.benchmark.batch_sizes) > recipe.tensorrt.max_batch:
        raise RecipeError(f"a benchmark batch size exceeds [tensorrt].max_batch = {recipe.tensorrt.max_batch}")


TENSORRT = RuntimeSpec(
    devices=("cuda",), extra="tensorrt", modules=("torch_tensorrt",), validate=_check_batches,
    summary="torch-tensorrt dynamo engine (UNVERIFIED)",
    title="TensorRT", packages=("torch-tensorrt",), size_meter="not measured", selfcheck="recipe tensorrt-fp16",
    uncountable="the engine's layer precisions are not inspected (TensorRT never ran on this project's machines)",
    tested_by="tests/optimize/test_tensorrt.py::test_engine_matches_fp32",
)  # fmt: skip


@register_runtime("tensorrt", TENSORRT)
def prepare_tensorrt(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir) -> Prepared:
    """Apply the method to the module (ModelOpt int8 calibration or nothing), then build the engine."""
    from swinprof.optimize.prepare import Prepared

    t = recipe.tensorrt
    q = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, model, calibration, workdir))
    gm = compile_tensorrt(
        q.work,
        model.config.img_size,
        recipe.target.precision,
        int8=q.precision == "int8",
        max_batch=t.max_batch,
        opt_batch=max(recipe.benchmark.batch_sizes),
        workspace_gb=t.workspace_gb,
        min_block_size=t.min_block_size,
    )
    notes = [*q.notes, "TensorRT engine size not measured (kept in memory)"]
    return Prepared(recipe.name, gm, 0.0, None, q.layers, notes=notes)
