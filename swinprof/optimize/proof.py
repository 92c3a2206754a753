"""Proof of execution: after a recipe is prepared (and its first call compiled), count the linears that run
quantized, and say when a recipe that should run in int8 does not, or will be slow.

What is counted, per form of the model:
- inductor-compiled graphs: the int8 GEMM calls in the code inductor generated. With torch 2.13 on x86, a PT2E
  int8 linear lowers to `torch.ops.onednn.qlinear_pointwise` (`.default`, `.tensor`, `.binary`) only when
  freezing is on; with freezing off the same graph compiles to fp32 `extern_kernels.addmm` around fused
  quantize/dequantize arithmetic (inspected: a tiny Swin gives 31 qlinear_pointwise calls with freezing, 0 and
  29 addmm without).
- eager PyTorch modules: `nn.Linear` layers whose weight is a torchao quantized tensor subclass.
- PT2E graphs run eagerly: none (the quantize/dequantize pairs simulate int8 with fp32 kernels).
- ONNX files: MatMulInteger / QLinearMatMul / QGemm / DynamicQuantizeMatMul nodes, and MatMul / Gemm nodes whose
  weight comes from a DequantizeLinear (QDQ, which ONNX Runtime fuses into int8 kernels).
- OpenVINO (its counter lives in `swinprof.optimize.openvino`): the compiled model's FullyConnected nodes that the
  CPU plugin runs in i8/u8.

Each runtime declares its counter at registration (`RuntimeSpec.count_quantized`); the kind (int8 / fp8) is the
method's (`MethodSpec.kind`), never guessed from names.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch
from torch import nn

from swinprof.measure import environment
from swinprof.measure.native import INT8_DOT_FLAGS

INT8_CODE = re.compile(r"\bonednn\.qlinear_pointwise\b")
ONNX_INT8_OPS = {"MatMulInteger", "QLinearMatMul", "QGemm", "DynamicQuantizeMatMul"}
FP8_CAPABILITY = (8, 9)
FREEZING_OFF = "inductor freezing is off, so the q/dq pairs do not lower to int8 kernels: set [compile] freezing = true"


@dataclass(frozen=True)
class QuantizedCount:
    """`quantized` of the model's `linears` (nn.Linear layers) run in `kind` (int8 / fp8); `evidence` says
    where the count comes from."""

    quantized: int
    linears: int
    kind: str
    evidence: str

    @property
    def cell(self) -> str:
        return f"{self.quantized} of {self.linears} {self.kind}"


@contextlib.contextmanager
def inductor_output_code(sink: list[str] | None) -> Iterator[None]:
    """Append the Python wrapper code of every graph inductor compiles (or loads from its cache) to `sink`;
    no-op for None. Uses inductor's own hook (`GraphLowering.save_output_code`), without resetting dynamo."""
    if sink is None:
        yield
        return
    from torch._inductor.graph import GraphLowering

    with mock.patch.object(GraphLowering, "save_output_code", sink.append):
        yield


def count_linears(model: nn.Module) -> int:
    return sum(isinstance(m, nn.Linear) for m in model.modules())


def count_in_inductor_code(codes: dict[tuple, list[str]]) -> int:
    """int8 GEMM calls (oneDNN qlinear) in inductor's generated code for one forward: per input signature
    (batch size) the calls in the graphs its warm-up compiled, the most of any signature. Summed over
    signatures, a run at batch sizes 1 and 8 would count every Linear twice."""
    return max((sum(len(INT8_CODE.findall(code)) for code in graphs) for graphs in codes.values()), default=0)


def _quantized_weight(weight) -> bool:
    """A weight held as a tensor subclass (torchao's quantized tensors), not a plain tensor or parameter."""
    return type(weight) not in (torch.Tensor, nn.Parameter)


def count_torchao(module: nn.Module) -> tuple[int, str]:
    """Linears holding torchao quantized weights: (count, subclass names)."""
    names = [type(m.weight).__name__ for m in module.modules() if isinstance(m, nn.Linear) and
             _quantized_weight(m.weight)]  # fmt: skip
    return len(names), ", ".join(sorted(set(names)))


def count_onnx(path: str | Path) -> int:
    """Quantized Linear layers in an ONNX file: integer matmul ops, or MatMul/Gemm whose weight initializer comes
    through a DequantizeLinear (QDQ). Activation x activation MatMuls (attention QK^T, AV; the `trt-qdq-int8` file
    quantizes them too) are not Linear layers and are not counted, so the count compares with `nn.Linear`s."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    weights = {init.name for init in graph.initializer}
    count = 0
    for node in graph.node:
        if node.op_type in ONNX_INT8_OPS:
            count += 1
        elif node.op_type in ("MatMul", "Gemm") and len(node.input) > 1:
            dq = producer.get(node.input[1])  # a weight (initializer) through a DequantizeLinear: a Linear layer
            count += dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in weights
    return count


def _unwrap(fn):
    """The module behind a prepared callable (cast wrapper, CompiledModel)."""
    fn = getattr(fn, "fn", fn)  # pytorch._CastInput
    return getattr(fn, "module", fn)


def _kind(recipe) -> str:
    from swinprof.optimize.methods import method_kind

    return method_kind(recipe.quantize.method) or "int8"


def count_pytorch(recipe, prepared, model: nn.Module) -> QuantizedCount | None:
    """The PyTorch runtime's proof counter: a PT2E graph (an fx GraphModule) counts the oneDNN int8 GEMMs in the
    code inductor generated (none when it runs eagerly: an fp32 simulation); an eager module counts its linears
    holding torchao quantized weights."""
    linears, kind = count_linears(model), _kind(recipe)
    work = _unwrap(prepared.fn)
    if isinstance(work, torch.fx.GraphModule):
        if prepared.compiled is None:
            return QuantizedCount(0, linears, kind, "eager q/dq simulation (fp32 kernels)")
        n = count_in_inductor_code(prepared.compiled.codes)
        return QuantizedCount(n, linears, kind, "onednn.qlinear_pointwise calls in inductor's code")
    if isinstance(work, nn.Module):
        n, names = count_torchao(work)
        return QuantizedCount(n, linears, kind, f"torchao quantized weights ({names or 'none'})")
    return None


def count_onnxruntime(recipe, prepared, model: nn.Module) -> QuantizedCount | None:
    """The ONNX Runtime proof counter: quantized matmul nodes of the ONNX file the session runs."""
    if "onnx" not in prepared.artifacts:
        return None
    return QuantizedCount(count_onnx(prepared.artifacts["onnx"]), count_linears(model), _kind(recipe),
                          "quantized ONNX nodes")  # fmt: skip


def count_quantized(recipe, prepared, model: nn.Module) -> QuantizedCount | None:
    """What runs quantized in `prepared` (after its first call), by its runtime's proof counter (the registry's
    `RuntimeSpec.count_quantized`); None for fp32 recipes or a runtime without one."""
    from swinprof.optimize.methods import get_runtime

    if recipe.quantize.method == "none":
        return None
    counter = get_runtime(recipe.target.runtime).spec.count_quantized
    return counter(recipe, prepared, model) if counter is not None else None


def _lacks_int8_dot() -> bool:
    flags = environment.cpu_flags()
    return bool(flags) and "avx2" in flags and not any(f in flags for f in INT8_DOT_FLAGS)


def execution_warnings(recipe, prepared, count: QuantizedCount | None) -> list[str]:
    """Warnings for the report: quantized layers that run in fp32, int8 on a CPU without int8 dot products,
    fp8 on a GPU older than Ada (compute capability 8.9)."""
    out, name = [], recipe.name
    if count is not None and prepared.quantized_layers and count.quantized == 0:
        why = count.evidence
        if recipe.compile.backend == "inductor" and not recipe.compile.freezing:
            why = FREEZING_OFF
        elif prepared.compiled is None and isinstance(_unwrap(prepared.fn), torch.fx.GraphModule):
            why = "PT2E without [compile] runs an fp32 simulation: set [compile] backend = 'inductor', freezing = true"
        out.append(f"{name}: quantizes {len(prepared.quantized_layers)} layers but 0 of {count.linears} linears "
                   f"run in {count.kind} ({why})")  # fmt: skip
    if count is not None and count.kind == "int8" and recipe.target.device == "cpu" and _lacks_int8_dot():
        out.append(f"{name}: this CPU has no {'/'.join(INT8_DOT_FLAGS)}: int8 GEMMs fall back to AVX2 "
                   "(vpmaddubsw, 7-bit activations) and are often no faster than fp32")  # fmt: skip
    if _kind(recipe) == "fp8" and recipe.target.device == "cuda" and torch.cuda.is_available():
        cc = torch.cuda.get_device_capability()
        if cc < FP8_CAPABILITY:
            out.append(f"{name}: fp8 needs compute capability >= 8.9 (Ada/Hopper); this GPU is {cc[0]}.{cc[1]}")
    return out
