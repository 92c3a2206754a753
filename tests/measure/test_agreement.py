"""One measurement truth: four commands measuring one forward of the same model and input print the same tensor
peak, because each calls the one meter (`measure.memory.forward_tensor_peak`) on the same seeded input."""

from __future__ import annotations

import json

import pytest

from swinprof.cli.main import main

ARGS = ["--res", "64"]


def _json(capsys, argv: list[str]) -> dict:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rows(report: dict, key: str) -> list[dict]:
    return next(t for t in report["tables"] if t["key"] == key)["rows"]


@pytest.mark.fullsize
def test_profile_attention_memory_and_run_agree_on_one_forward(capsys, tmp_path):
    """swin_t at 64x64, batch 2, reference attention, fp32, CPU: the same tensor_peak_bytes four times."""
    profile = _json(capsys, ["profile", "swin_t", *ARGS, "--batch", "2", "--no-timing", "--quiet"])
    from_profile = _rows(profile, "model_info")[0]["tensor_peak_bytes"]

    attention = _json(capsys, ["attention", "swin_t", *ARGS, "--batch", "2", "--impl", "reference", "--iters", "1",
                               "--warmup", "0", "--block-iters", "1"])  # fmt: skip
    from_attention = _rows(attention, "impls")[0]["tensor_peak_bytes"]

    memory = _json(capsys, ["memory", "swin_t", *ARGS, "--batch", "2", "--mode", "infer", "--iters", "1",
                            "--warmup", "0", "--seq-attn", "chunks=2"])  # fmt: skip
    baseline = next(r for r in _rows(memory, "steps") if r["config"] == "baseline")
    from_memory = baseline["tensor_peak_bytes"]

    run = _json(capsys, ["run", "fp32-eager", "--model", "swin_t", "--res", "64", "--batch-sizes", "2", "--iters",
                         "1", "--warmup", "0", "--no-process-memory", "-o", str(tmp_path / "run")])  # fmt: skip
    from_run = _rows(run, "comparison")[0]["tensor_peak_bytes"]

    assert from_profile == from_attention == from_memory == from_run > 0


def _printed_tables(text: str) -> list[list[dict[str, str]]]:
    """The terminal tables in `text` as rows of {header: cell} (wrapped headers and cells re-joined)."""
    tables, header, rows = [], None, []
    for line in text.splitlines():
        if line.startswith("┏"):
            header, rows = None, []
        elif line.startswith("┃"):
            cells = [c.strip() for c in line.strip("┃").split("┃")]
            header = cells if header is None else [f"{a} {b}".strip() for a, b in zip(header, cells)]
        elif line.startswith("│") and header is not None:
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0] or not rows:
                rows.append(cells)
            else:  # a wrapped row continues
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        elif line.startswith("└") and header is not None:
            tables.append([dict(zip(header, r)) for r in rows])
            header = None
    return tables


def _printed_peak(capsys, argv: list[str], label: str) -> str:
    assert main(argv) == 0
    for table in _printed_tables(capsys.readouterr().out):
        for row in table:
            peak = [v for k, v in row.items() if "tensor peak" in k and "MiB" in k]
            if peak and next(iter(row.values())) == label:
                return peak[0]
    raise AssertionError(f"no tensor peak (MiB) printed for {label} by {argv[0]}")


@pytest.mark.fullsize
def test_the_four_commands_print_the_same_tensor_peak_in_mib(capsys, tmp_path):
    """What people read, not the raw bytes: the same digits, in MiB, on the terminal of all four commands."""
    printed = {
        "profile": _printed_peak(capsys, ["profile", "swin_t", *ARGS, "--batch", "2", "--no-timing", "--quiet"],
                                 "Swin-T"),
        "attention": _printed_peak(capsys, ["attention", "swin_t", *ARGS, "--batch", "2", "--impl", "reference",
                                            "--iters", "1", "--warmup", "0", "--block-iters", "1"], "reference"),
        "memory": _printed_peak(capsys, ["memory", "swin_t", *ARGS, "--batch", "2", "--mode", "infer", "--iters",
                                         "1", "--warmup", "0"], "baseline"),
        "run": _printed_peak(capsys, ["run", "fp32-eager", "--model", "swin_t", *ARGS, "--batch-sizes", "2",
                                      "--iters", "1", "--warmup", "0", "--no-process-memory"], "fp32-eager"),
    }  # fmt: skip
    assert len(set(printed.values())) == 1 and float(next(iter(printed.values()))) > 0, printed
