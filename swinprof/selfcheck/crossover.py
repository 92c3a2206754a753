"""The selfcheck path of `swinprof crossover`: a two-rung ladder on the shrunk model, on CPU or CUDA.

The full-size GPU map (swin_s, bf16 eager / compile / torchao int8 / fp8, batch 1 to 256) is not a path: it
needs the GPU alone for about four minutes, so the prepared GPU command runs it as its own step
(`tools/gpu-selfcheck.sh crossover`, docs/gpu-selfcheck-plan.md).
"""

from __future__ import annotations

from swinprof.selfcheck.context import Context
from swinprof.selfcheck.paths import MODEL, RECIPE_RES, _tiny
from swinprof.selfcheck.reading import cell, find_table, number
from swinprof.selfcheck.registry import Result, needs_module, register

RECIPE = "int8-weight-only"  # eager torchao on either device: no compile, so the path takes seconds


@register("crossover", requires=(needs_module("torchao"),), limit_s={"cpu": 300.0, "cuda": 120.0})
def crossover(ctx: Context) -> Result:
    """`swinprof crossover` at batch 1 and 2: speedup over the baseline with its interval, per batch."""
    run = ctx.cli("crossover", MODEL, "--recipes", RECIPE, "--batch", "1,2", "--res", RECIPE_RES, "--device",
                  ctx.device, "--warmup", 1, "--iters", 4, *_tiny(), "--format", "json")  # fmt: skip
    summary = find_table(run.docs, "summary").rows
    points = [r for r in find_table(run.docs, "points").rows if cell(r, "recipe") == RECIPE]
    if len(summary) != 1 or sorted(int(number(r, "batch")) for r in points) != [1, 2]:
        raise LookupError(f"expected one recipe at batches 1 and 2, got {summary} and {points}")
    line = str(cell(summary[0], "summary"))
    bounds = {int(number(r, "batch")): str(cell(r, "GEMM bound")) for r in points}
    return Result(f"{line}; GEMMs {bounds[1]} at b1", {"summary": line, "bounds": bounds})
