#!/usr/bin/env bash
# The prepared GPU check, run from the repo root on a GPU machine with .whl/ carried (tools/fetch-gpu-wheels.sh
# fills it here): install the carried wheels, then one step, its report, progress log and the GPU's identity
# written to $OUT. Plan and timings per path: docs/gpu-selfcheck-plan.md.
#
#   bash tools/gpu-selfcheck.sh [ARGS]        step 1: `swinprof selfcheck --device cuda` (full: the small-size paths
#                                             and the full-size headline numbers), budget 470 s: 8 minutes wall;
#                                             ARGS go to the selfcheck (e.g. --quick, --only attention, --budget 300)
#   bash tools/gpu-selfcheck.sh crossover     step 2: the swin_s crossover map, bf16 eager / compile / torchao int8 /
#                                             fp8 at batch 1 to 256 (about 4 minutes, cut at CROSSOVER_LIMIT_S)
#
# Two steps, two calls: one call may run 10 minutes and the full selfcheck alone takes 8.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
STEP=selfcheck
if [ "${1:-}" = "crossover" ]; then STEP=crossover; shift; fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu-selfcheck: installing the carried wheels failed (run tools/fetch-gpu-wheels.sh first)" >&2; exit 2; }
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.csv"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'

if [ "$STEP" = "crossover" ]; then
    # --dynamic-batch: two compiles per compiled recipe (batch 1, then one graph for 2..256) instead of nine.
    # timeout: the map writes its report whole or not at all; a cut run leaves its progress log.
    timeout "${CROSSOVER_LIMIT_S:-330}" python3 -m swinprof crossover swin_s --device cuda \
        --recipes compile-inductor-bf16,int8-dynamic-bf16,fp8-dynamic-bf16 --batch 1,2,4,8,16,32,64,128,256 \
        --dynamic-batch --warmup 3 --iters 10 -o "$OUT/crossover" --format markdown "$@" 2>&1 \
        | tee "$OUT/crossover.log"
    exit "${PIPESTATUS[0]}"
fi

# --format markdown: the whole report on stdout too, so the call's output shows it even if files do not come back.
# --jobs 6: six small-size paths at a time on the 16 cores (2 threads each) once the headline rows are done; the
# plan (docs/gpu-selfcheck-plan.md) needs it to fit the 470 s budget. A later --jobs in ARGS wins.
python3 -m swinprof selfcheck --device cuda --jobs 6 -o "$OUT" --format markdown "$@" 2>&1 | tee "$OUT/selfcheck.log"
exit "${PIPESTATUS[0]}"
