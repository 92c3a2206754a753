"""The `onnxruntime-gpu` runtime: the exported ONNX file run by ONNX Runtime's TensorRT (or CUDA) execution provider.

The accuracy path for the device: the same file `swinprof export onnx-int8` writes (the recipe's method, e.g.
`trt-qdq-int8`, makes it from the fp32 export exactly as the onnxruntime runtime does), run on the GPU by ONNX
Runtime with TensorRT building the engine (`TensorrtExecutionProvider`, from `pip install onnxruntime-gpu` plus
TensorRT's libraries), or by the CUDA execution provider when TensorRT's is not there. So `swinprof run ... --data`
measures accuracy over a data set with the engine's own arithmetic on a Jetson or a GPU, where the CPU recipe
(`trt-int8-onnx`) can only run ONNX Runtime's.

UNVERIFIED in this project: no machine here has a GPU build of ONNX Runtime with TensorRT; on a machine without
either provider the recipe stops before any work with one line naming what is missing. The provider options follow
ONNX Runtime's TensorRT execution provider documentation (`trt_fp16_enable`, `trt_int8_enable`,
`trt_engine_cache_enable`, `trt_engine_cache_path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from swinprof.errors import DeviceUnavailableError, require_extra
from swinprof.optimize.methods import RuntimeSpec, register_runtime
from swinprof.optimize.onnx import OrtModel, check_export, exporter_modules, quantized_onnx
from swinprof.optimize.proof import count_onnxruntime
from swinprof.optimize.trt_rules import QDQ_OPS

if TYPE_CHECKING:
    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.recipe import Recipe

# In order of preference: TensorRT builds the engine; CUDA runs the graph op by op (Q/DQ as written).
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def gpu_providers() -> list[str]:
    """The GPU execution providers this ONNX Runtime build has, in order of preference."""
    ort = require_extra("onnxruntime", "onnx", "ONNX Runtime on a GPU")
    have = set(ort.get_available_providers())
    return [p for p in GPU_PROVIDERS if p in have]


def missing_provider() -> str | None:
    """Why the runtime cannot run here (one line naming what is missing), or None."""
    import onnxruntime as ort

    if gpu_providers():
        return None
    return (f"ONNX Runtime here has neither the TensorRT nor the CUDA execution provider (it has "
            f"{', '.join(ort.get_available_providers())}): on a CUDA machine or a Jetson, pip install "
            "onnxruntime-gpu (and TensorRT's libraries for the TensorRT provider)")  # fmt: skip


def _check(recipe: Recipe) -> None:
    reason = missing_provider()
    if reason:
        raise DeviceUnavailableError(f"recipe {recipe.name!r}: {reason}")


def provider_list(path: Path, precision: str, cache: Path) -> list:
    """ONNX Runtime's `providers` argument: TensorRT with its options (fp16 kernels allowed for an fp16 target,
    int8 for a file with Q/DQ nodes, engines cached beside the file), then CUDA, then CPU for what neither takes."""
    onnx = require_extra("onnx", "onnx", "ONNX Runtime on a GPU")
    graph = onnx.load(str(path), load_external_data=False).graph
    qdq = any(n.op_type in QDQ_OPS for n in graph.node)
    chosen: list = []
    for provider in gpu_providers():
        if provider == "TensorrtExecutionProvider":
            cache.mkdir(parents=True, exist_ok=True)
            options = {"trt_fp16_enable": precision == "fp16", "trt_int8_enable": qdq,
                       "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}  # fmt: skip
            chosen.append((provider, options))
        else:
            chosen.append(provider)
    return [*chosen, "CPUExecutionProvider"]


def gpu_session(path: Path, precision: str, cache: Path):
    """An ONNX Runtime session on the best GPU provider; refuses one that silently fell back to the CPU."""
    ort = require_extra("onnxruntime", "onnx", "ONNX Runtime on a GPU")
    providers = provider_list(path, precision, cache)
    sess = ort.InferenceSession(str(path), providers=providers)
    if not set(sess.get_providers()) & set(GPU_PROVIDERS):
        raise DeviceUnavailableError(f"ONNX Runtime could not start {', '.join(gpu_providers())} for {path.name} "
                                     "(CUDA or TensorRT libraries missing?); it fell back to the CPU")  # fmt: skip
    return sess


ORT_GPU = RuntimeSpec(
    devices=("cuda",), extra="onnx", modules=("onnxruntime", "onnx"), needs=exporter_modules,
    validate=check_export, check=_check,
    summary="ONNX export, then ONNX Runtime's TensorRT (or CUDA) execution provider (UNVERIFIED)",
    title="ONNX Runtime TensorRT EP", packages=("onnx", "onnxruntime-gpu", "onnxscript"),
    count_quantized=count_onnxruntime, count_evidence="quantized ONNX nodes", size_meter="the .onnx file",
    selfcheck="recipe trt-int8-ort-gpu", methods_of="onnxruntime",
    tested_by="tests/optimize/test_ort_gpu.py::test_engine_matches_fp32",
)  # fmt: skip


@register_runtime("onnxruntime-gpu", ORT_GPU)
def prepare_ort_gpu(recipe: Recipe, model: nn.Module, calibration: list[torch.Tensor], workdir: Path) -> Prepared:
    """Export fp32 ONNX, apply the method to the file, open it on the GPU provider; the file is kept."""
    from swinprof.optimize.prepare import Prepared

    path, q = quantized_onnx(recipe, model, calibration, workdir)
    sess = gpu_session(path, recipe.target.precision, workdir / "trt-engines")
    note = f"ONNX Runtime {sess.get_providers()[0]} on {path.name}: the engine's own arithmetic"
    return Prepared(recipe.name, OrtModel(sess), 0.0, path.stat().st_size, q.layers, {"onnx": path}, [*q.notes, note])
