"""The range of a seed: one bound for every option and file field that takes one (torch-free, so argument
parsing can check a seed without importing torch)."""

from __future__ import annotations

from swinprof.errors import SwinprofError

# torch's generators take an unsigned 64-bit seed (2^64 and above raise "Overflow when unpacking long long"), and
# commands derive further seeds by adding small offsets (seed + 1 for calibration, seed + batch in the crossover),
# so the bound leaves 2^63 of room above it. 2^63 - 1 is also the largest seed an int64 column of a table holds.
MAX_SEED = 2**63 - 1
SEED_RANGE = "an integer from 0 to 2^63-1"


def check_seed(value: object, what: str = "seed") -> int:
    """`value` as a seed, or a SwinprofError naming `what` and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise SwinprofError(f"{what} must be {SEED_RANGE}, got {value!r}")
    return value
