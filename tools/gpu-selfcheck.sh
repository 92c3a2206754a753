#!/usr/bin/env bash
# The prepared GPU check, run from the repo root on a GPU machine with .whl/ carried (tools/fetch-gpu-wheels.sh
# fills it here): install the carried wheels, then `swinprof selfcheck --device cuda` (full: the small-size paths
# and the full-size headline numbers) with its report, its progress log and the GPU's identity written to $OUT.
# Extra arguments go to the selfcheck (e.g. --quick, --only attention, --budget 300).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu-selfcheck: installing the carried wheels failed (run tools/fetch-gpu-wheels.sh first)" >&2; exit 2; }
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.csv"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'

# --format markdown: the whole report on stdout too, so the call's output shows it even if files do not come back.
python3 -m swinprof selfcheck --device cuda -o "$OUT" --format markdown "$@" 2>&1 | tee "$OUT/selfcheck.log"
exit "${PIPESTATUS[0]}"
