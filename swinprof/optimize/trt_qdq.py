"""Method `trt-qdq-int8` on the `onnxruntime` runtime: the explicit-Q/DQ file for TensorRT, run by ONNX Runtime.

The recipe `trt-int8-onnx` exports fp32 ONNX, inserts TensorRT's Q/DQ placement into it (`qdq_onnx`), checks the
placement (`qdq_check`) and opens the very same file in ONNX Runtime on CPU, which executes Q/DQ as written
(`exact_qdq`: not fused into ONNX Runtime's integer kernels, whose int16 products saturate on x86 CPUs without
VNNI, an error TensorRT's int32-accumulating GEMMs do not make). So the fidelity row of `swinprof run` is the
artifact's own (SQNR, top-1 agreement vs fp32); the latency row is ONNX Runtime's on this CPU, not TensorRT's on
the device (`swinprof import-trtexec` brings those timings back).
"""

from __future__ import annotations

from pathlib import Path

from swinprof.errors import RecipeError
from swinprof.optimize.methods import MethodJob, MethodSpec, Quantized, register_method
from swinprof.optimize.qdq_check import check_onnx
from swinprof.optimize.qdq_onnx import quantize_qdq

TRT_QDQ = MethodSpec(
    "onnxruntime", ("cpu", "cuda"), extra="onnx", module="onnxruntime", calibrated=True,
    summary="TensorRT explicit Q/DQ int8 (symmetric, per-channel weights) run by ONNX Runtime", kind="int8",
    weight_bits=8, activation_bits=8, exact_qdq=True,
    tested_by="tests/optimize/test_trt_qdq.py::test_the_method_writes_a_checked_file_that_the_proof_counter_counts",
)  # fmt: skip


@register_method("trt-qdq-int8", TRT_QDQ)
def trt_qdq_int8(job: MethodJob) -> Quantized:
    """Q/DQ on both inputs of every selected GEMM (Linear layers and the attention MatMuls), activation ranges
    from the calibration batches (max calibrator), the rest in the recipe's target precision (fp16: the mixed
    file `swinprof export onnx-int8` writes by default; fp32); `job.work` is the fp32 ONNX file."""
    if not job.calibration:
        raise RecipeError("trt-qdq-int8 needs calibration batches ([quantize.calibration] count >= 1)")
    dst = (job.workdir or Path(job.work).parent) / f"{job.name}.onnx"
    modules = {name for name, _ in job.model.named_modules()}
    images = sum(b.shape[0] for b in job.calibration)
    high = "fp16" if job.precision == "fp16" else "fp32"
    result = quantize_qdq(job.work, dst, job.calibration, f"{images} calibration images of the recipe",
                          job.include, job.skip, modules, high_precision=high)  # fmt: skip
    placement = check_onnx(dst)
    share = placement.int8_macs_share
    notes = [
        f"explicit Q/DQ for TensorRT ({result.calibration}); {len(result.quantized)} GEMMs int8 "
        f"(Linear + attention MatMuls), {len(result.skipped)} left in float; int8 share of GEMM MACs "
        f"{'n/a' if share is None else f'{share:.1%}'}; everything else in {high} ([target] precision); "
        "[quantize] reduce_range does not apply (TensorRT int8)",
    ]  # fmt: skip
    layers = [s.module for s in result.quantized if s.kind != "attention"]  # Linear/Conv layers, as other methods
    return Quantized(dst, layers, notes)
