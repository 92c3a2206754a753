"""One measurement truth: four commands measuring one forward of the same model and input print the same tensor
peak, because each calls the one meter (`measure.memory.forward_tensor_peak`) on the same seeded input."""

from __future__ import annotations

import json

import pytest

from swinprof.cli.main import main

ARGS = ["--res", "64"]


def _rows(report: dict, key: str) -> list[dict]:
    return next(t for t in report["tables"] if t["key"] == key)["rows"]


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


def _printed_peak(text: str, label: str) -> str:
    for table in _printed_tables(text):
        for row in table:
            peak = [v for k, v in row.items() if "tensor peak" in k and "MiB" in k]
            if peak and next(iter(row.values())) == label:
                return peak[0]
    raise AssertionError(f"no tensor peak (MiB) printed for {label}")


def _written_rows(folder, key: str) -> list[dict]:
    """The rows of table `key` in the report json the command wrote with -o (the raw bytes live there)."""
    docs = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return _rows(next(d for d in docs if "tables" in d and any(t["key"] == key for t in d["tables"])), key)


@pytest.mark.fullsize
def test_profile_attention_memory_and_run_agree_on_one_forward(capsys, tmp_path):
    """swin_t at 64x64, batch 2, reference attention, fp32, CPU: the same tensor_peak_bytes four times in the
    files, and the same digits in MiB on the four terminals (what people read)."""
    commands = {  # name: (argv, table key in the report, row label)
        "profile": (["profile", "swin_t", *ARGS, "--batch", "2", "--no-timing", "--quiet"], "model_info", "Swin-T"),
        "attention": (["attention", "swin_t", *ARGS, "--batch", "2", "--impl", "reference", "--iters", "1",
                       "--warmup", "0", "--block-iters", "1"], "impls", "reference"),
        "memory": (["memory", "swin_t", *ARGS, "--batch", "2", "--mode", "infer", "--iters", "1", "--warmup", "0",
                    "--seq-attn", "chunks=2"], "steps", "baseline"),
        "run": (["run", "fp32-eager", "--model", "swin_t", *ARGS, "--batch-sizes", "2", "--iters", "1", "--warmup",
                 "0", "--no-process-memory"], "comparison", "fp32-eager"),
    }  # fmt: skip
    raw, printed = {}, {}
    for name, (argv, key, label) in commands.items():
        out = tmp_path / name
        assert main([*argv, "-o", str(out)]) == 0
        printed[name] = _printed_peak(capsys.readouterr().out, label)
        row = next(r for r in _written_rows(out, key) if next(iter(r.values())) == label)
        raw[name] = row["tensor_peak_bytes"]
    assert len(set(raw.values())) == 1 and next(iter(raw.values())) > 0, raw
    assert len(set(printed.values())) == 1, printed
    assert float(printed["run"]) == pytest.approx(raw["run"] / 2**20, abs=0.005)  # MiB, 2 decimals
