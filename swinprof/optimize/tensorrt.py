"""TensorRT through torch-tensorrt's dynamo frontend (fp16 engines; int8 via NVIDIA ModelOpt PTQ).

UNVERIFIED in this project: torch-tensorrt and TensorRT could not be installed on the machines available (see
README). Written against the documented API: `torch.export.export` -> `torch_tensorrt.dynamo.compile(exported,
inputs=[torch_tensorrt.Input(min_shape, opt_shape, max_shape)], enabled_precisions=..., workspace_size=...,
min_block_size=...)`; int8 follows torch-tensorrt's "Quantization (INT8 / FP8 / FP4)" guide: `mtq.quantize(model,
mtq.INT8_DEFAULT_CFG, forward_loop)` inserts calibrated QDQ nodes, then the model is exported under ModelOpt's
`export_torch_mode()` and compiled with `torch.int8` enabled. For `trtexec`, `swinprof export onnx` writes the graph.
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
from swinprof.optimize.quantize import selected_modules

if TYPE_CHECKING:
    from swinprof.optimize.recipe import Recipe
    from swinprof.optimize.runner import Prepared

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
    precisions = {torch.float32, PRECISIONS[precision]}
    if int8:
        precisions.add(torch.int8)
        export_mode = require_extra("modelopt.torch.quantization.utils", "tensorrt", "TensorRT int8").export_torch_mode
    else:
        from contextlib import nullcontext as export_mode
    with torch.no_grad(), export_mode():
        exported = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}}, strict=False)
        return trt.dynamo.compile(
            exported,
            inputs=[spec],
            enabled_precisions=precisions,
            workspace_size=int(workspace_gb * (1 << 30)),
            min_block_size=min_block_size,
        )


TRT_INT8 = MethodSpec("tensorrt", ("cuda",), extra="tensorrt", module="modelopt", calibrated=True,
                      summary="TensorRT int8 (ModelOpt PTQ)", weight_bits=8, activation_bits=8)  # fmt: skip


@register_method("trt-int8", TRT_INT8)
def trt_int8(job: MethodJob) -> Quantized:
    """ModelOpt int8 QDQ, calibrated; the runtime then builds the engine with int8 enabled."""
    calibrated = calibrate_int8_modelopt(job.model, job.calibration, job.include, job.skip)
    layers = selected_modules(job.model, job.include, job.skip, (nn.Linear, nn.Conv2d))
    return Quantized(calibrated, layers, precision="int8")


def _check_batches(recipe: Recipe) -> None:
    if max(recipe.benchmark.batch_sizes) > recipe.tensorrt.max_batch:
        raise RecipeError(f"a benchmark batch size exceeds [tensorrt].max_batch = {recipe.tensorrt.max_batch}")


TENSORRT = RuntimeSpec(
    devices=("cuda",), extra="tensorrt", modules=("torch_tensorrt",), validate=_check_batches,
    summary="torch-tensorrt dynamo engine (UNVERIFIED)",
)  # fmt: skip


@register_runtime("tensorrt", TENSORRT)
def prepare_tensorrt(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir) -> Prepared:
    """Apply the method to the module (ModelOpt int8 calibration or nothing), then build the engine."""
    from swinprof.optimize.runner import Prepared

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
