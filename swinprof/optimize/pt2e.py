"""PT2E static int8 for x86 CPUs: torch.export -> X86InductorQuantizer -> calibrate -> convert.

The converted graph holds quantize/dequantize pairs around fp32 ops; it becomes fast only when compiled by
inductor with freezing on, which pattern-matches those pairs into oneDNN int8 linear kernels with prepacked
weights (`swinprof.optimize.compile`). Run eagerly it is a (slow) simulation of the int8 numerics.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from swinprof.errors import require_extra
from swinprof.measure import environment
from swinprof.measure.native import INT8_DOT_FLAGS
from swinprof.optimize.methods import MethodJob, MethodSpec, Quantized, register_method
from swinprof.optimize.selection import selected_modules

# A batch dimension this wide covers every benchmark batch size; export needs a finite bound.
MAX_EXPORT_BATCH = 1024


def cpu_has_vnni() -> bool:
    """True if this x86 CPU has an int8 dot-product instruction (AVX512-VNNI, AVX-VNNI or AMX)."""
    flags = environment.cpu_flags()
    if not flags:
        return True  # unknown platform: trust the quantizer's default
    return any(f in flags for f in INT8_DOT_FLAGS)


def resolve_reduce_range(setting: str) -> bool:
    """`auto` -> 7-bit activations exactly when the CPU lacks VNNI (u8*s8 pairs saturate in int16 without it)."""
    if setting == "auto":
        return not cpu_has_vnni()
    return setting == "true"


def export_model(model: nn.Module, example: torch.Tensor, dynamic_batch: bool = True) -> torch.fx.GraphModule:
    """`torch.export` the eval-mode model with an optional symbolic batch dimension; returns the graph module."""
    dims = None
    if dynamic_batch:
        if example.shape[0] == 1:  # export specialises size-1 dimensions: trace with two images
            example = torch.cat([example, example])
        batch = torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)
        dims = {"x": {0: batch}}
    model.eval()
    exported = torch.export.export(model, (example,), dynamic_shapes=dims)
    return exported.module()


def x86_quantizer(model: nn.Module, include: Iterable[str], skip: Iterable[str], reduce_range: bool):
    """An X86InductorQuantizer with static per-tensor activations / per-channel weights, minus skipped modules.

    Returns `(quantizer, names of the Linear/Conv2d layers left to quantize)`.
    """
    xiq = require_extra(
        "torchao.quantization.pt2e.quantizer.x86_inductor_quantizer", "quant", "PT2E int8 (x86 inductor)"
    )
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config(reduce_range=reduce_range))
    types = (nn.Linear, nn.Conv2d)
    chosen = selected_modules(model, include, skip, types)
    keep = set(chosen)
    for name, mod in model.named_modules():
        if isinstance(mod, types) and name not in keep:
            quantizer.set_module_name_qconfig(name, None)
    return quantizer, chosen


def quantize_pt2e_x86(
    model: nn.Module,
    calibration: Iterable[torch.Tensor],
    include: Iterable[str] = ("*",),
    skip: Iterable[str] = (),
    reduce_range: bool = False,
    dynamic_batch: bool = True,
    fold_quantize: bool = True,
) -> tuple[torch.fx.GraphModule, list[str]]:
    """Static int8 graph of `model` calibrated on `calibration` batches `(B, 3, H, W)`.

    Returns `(converted graph module, names of quantized layers)`; the original model is untouched.
    `fold_quantize=False` keeps each weight as fp32 -> quantize -> dequantize in the graph (the sensitivity
    switchboard needs the fp32 weight beside its int8 path).
    """
    pt2e = require_extra("torchao.quantization.pt2e.quantize_pt2e", "quant", "PT2E int8 (x86 inductor)")
    batches = iter(calibration)
    first = next(batches)
    quantizer, chosen = x86_quantizer(model, include, skip, reduce_range)
    with torch.no_grad():
        graph = export_model(copy.deepcopy(model), first, dynamic_batch)
        prepared = pt2e.prepare_pt2e(graph, quantizer)
        prepared(first)
        for batch in batches:  # observers record activation ranges
            prepared(batch)
        converted = pt2e.convert_pt2e(prepared, fold_quantize=fold_quantize)
    return converted, chosen


def graph_module_bytes(gm: torch.fx.GraphModule) -> int:
    """Bytes of the tensors a (PT2E-converted) graph actually reads through `get_attr` nodes.

    convert_pt2e leaves the original fp32 parameters registered on the module even where the graph now reads
    folded int8 weights; counting only what the graph uses gives the size of what would be deployed.
    """
    seen: dict[int, int] = {}
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            value = gm
            for part in node.target.split("."):
                value = getattr(value, part)
            if isinstance(value, torch.Tensor):
                seen[id(value)] = value.numel() * value.element_size()
    return sum(seen.values())


PT2E_X86 = MethodSpec(
    "pytorch", ("cpu",), extra="quant", module="torchao", calibrated=True,
    summary="PT2E static int8, X86InductorQuantizer", kind="int8", packages=("torchao",), switchable=True,
    tested_by="tests/optimize/test_pt2e.py::test_pt2e_int8_eager_fidelity_and_skips",
    # Only inductor with freezing lowers the q/dq pairs to oneDNN int8 kernels; eager is a slow simulation.
    suggested={"compile": {"backend": "inductor", "mode": "default", "freezing": True}},
    weight_bits=8, activation_bits=8, candidates=("int8-x86-cpu",),
)  # fmt: skip


@register_method("pt2e-int8-x86", PT2E_X86)
def pt2e_int8_x86(job: MethodJob) -> Quantized:
    """Export, calibrate and convert `job.model`; the size is what the int8 graph reads."""
    reduce_range = resolve_reduce_range(job.reduce_range)
    gm, layers = quantize_pt2e_x86(job.model, job.calibration, job.include, job.skip, reduce_range)
    notes = [f"reduce_range={reduce_range}" + (" (7-bit activations)" if reduce_range else "")]
    if job.compile_backend == "none":
        notes.append("PT2E int8 without [compile] runs the q/dq simulation eagerly: slow by design")
    return Quantized(gm, layers, notes, size_bytes=graph_module_bytes(gm))
