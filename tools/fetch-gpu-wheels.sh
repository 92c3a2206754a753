#!/usr/bin/env bash
# Put every wheel a GPU check machine needs into .whl/ (ignored by git): the pinned list in tools/gpu-wheels.txt
# for CPython 3.12 manylinux x86_64, plus swinprof's own wheel built from this checkout; then check that they
# fit what a device call may carry (64 MiB with the working tree: we allow the wheels 60 MiB) and print the total.
# On the GPU machine (from the repo root, .whl carried):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site && python3 -m swinprof selfcheck --device cuda -o "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
DEST=.whl
LIMIT_MIB=60
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

rm -rf "$DEST"
mkdir -p "$DEST"
grep -v '^[[:space:]]*#' tools/gpu-wheels.txt | awk 'NF >= 2 {print $1, $2}' | while read -r spec how; do
    case "$how" in
        binary)
            "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
                "${PLATFORMS[@]}" -d "$DEST" "$spec" ;;
        sdist)  # pure Python published without a wheel: build one here (it is the same on every platform)
            "$PY" -m pip wheel -q --no-deps -w "$DEST" "$spec" ;;
        *)
            echo "tools/gpu-wheels.txt: unknown kind '$how' for $spec (binary or sdist)" >&2; exit 1 ;;
    esac
done
"$PY" -m pip wheel -q --no-deps -w "$DEST" .

# One version of each package: two stop the whole install on the GPU machine.
dupes=$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 | sort | uniq -d)
if [ -n "$dupes" ]; then echo "error: more than one wheel of: $dupes" >&2; exit 1; fi

expected=$(( $(grep -v '^[[:space:]]*#' tools/gpu-wheels.txt | awk 'NF >= 2' | wc -l) + 1 ))
count=$(ls "$DEST"/*.whl | wc -l)
if [ "$count" -ne "$expected" ]; then echo "error: $count wheels in $DEST, expected $expected" >&2; exit 1; fi

ls -l "$DEST"
bytes=$(cat "$DEST"/*.whl | wc -c)
mib=$(awk -v b="$bytes" 'BEGIN {printf "%.2f", b / 1048576}')
echo "total: $count wheels, $mib MiB (limit $LIMIT_MIB MiB)"
if [ "$bytes" -gt $(( LIMIT_MIB * 1048576 )) ]; then
    echo "error: the wheels take $mib MiB, over the $LIMIT_MIB MiB a GPU check can carry" >&2
    exit 1
fi
