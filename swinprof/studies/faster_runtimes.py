"""Where a deployment runtime beats swinprof's own paths in a run: one plain line per gap, from the measured rows.

A run that times `openvino-fp32` beside `fp32-eager` / `compile-inductor`, or `openvino-int8` beside
`int8-x86-cpu` / `onnx-ort-int8`, answers "which should I deploy?". When the other runtime is faster, the
report says so in words (a warning of the run report), so nobody has to divide medians to find out that
swinprof's own path stays behind. Only rows of one run are compared: same machine, same inputs, interleaved.
Which runtimes are swinprof's own and which are compared against them is each runtime's registration
(`RuntimeSpec.gap_role`); a row's kind is its method's (`MethodSpec.kind`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swinprof.optimize.methods import OTHER, OWN, method_kind, runtimes

# Within 5% is the same speed on a shared machine (issue 15's acceptance bound for "as fast as").
GAP_MARGIN = 1.05
# Row kinds compared: unquantized fp32, and the methods whose registration says they run int8.
KINDS = ("fp32", "int8")


def row_kind(row: Mapping, precisions: Mapping[str, str]) -> str | None:
    """ "fp32" for an unquantized fp32 row, else its method's precision kind (`MethodSpec.kind`: "int8", "fp8")."""
    if row["method"] == "none":
        return "fp32" if precisions.get(row["recipe"], "fp32") == "fp32" else None
    return method_kind(row["method"])


def _roles(kind: str, role: str) -> dict[str, str]:
    """Runtime name -> report title of the runtimes registered with `role` (OWN / OTHER) for row kind `kind`."""
    return {name: r.spec.title for name, r in runtimes().items() if r.spec.gap_role.get(kind) == role}


def _what(kind: str, titles: list[str]) -> str:
    """What a line calls swinprof's fastest row of `kind`: "PyTorch fp32 path", "swinprof int8 path (PyTorch, ...)"."""
    return f"{titles[0]} {kind} path" if len(titles) == 1 else f"swinprof {kind} path ({', '.join(titles)})"


def runtime_gaps(rows: Sequence[Mapping], precisions: Mapping[str, str], model: str | None = None) -> list[str]:
    """One line per (batch size, kind) where another runtime's fastest row beats swinprof's fastest by at least
    GAP_MARGIN. `rows`: the run's comparison rows (`recipe`, `method`, `runtime`, `batch`, `median_ms`,
    `sqnr_db`); `precisions`: recipe name -> `[target] precision` (absent: fp32, the baseline). With the
    `model` variant, an fp32 line names the `swinprof gap` command that profiles where the time goes."""
    out = []
    for batch in sorted({r["batch"] for r in rows}):
        for kind in KINDS:
            own_runtimes, other_runtimes = _roles(kind, OWN), _roles(kind, OTHER)
            same = [r for r in rows if r["batch"] == batch and row_kind(r, precisions) == kind]
            own = [r for r in same if r["runtime"] in own_runtimes]
            other = [r for r in same if r["runtime"] in other_runtimes]
            if not own or not other:
                continue
            mine = min(own, key=lambda r: r["median_ms"])
            best = min(other, key=lambda r: r["median_ms"])
            ratio = mine["median_ms"] / best["median_ms"]
            if ratio < GAP_MARGIN:
                continue
            what = _what(kind, list(own_runtimes.values()))
            line = (f"{best['recipe']} is {ratio:.2f}x faster than the fastest {what} here at batch {batch} "
                    f"({mine['recipe']}: {mine['median_ms']:.1f} ms vs {best['median_ms']:.1f} ms")  # fmt: skip
            if kind == "int8":
                line += f"; SQNR {_db(mine)} vs {_db(best)}"
            line += ")"
            if kind == "fp32" and model:
                line += f"; where the time goes: swinprof gap {model} --batch {batch}"
            out.append(line)
    return out


def _db(row: Mapping) -> str:
    value = row.get("sqnr_db")
    return f"{value:.1f} dB" if value is not None else "not measured"
