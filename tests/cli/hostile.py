"""Hostile but small input files for tests/cli/test_bad_inputs.py: each is a few KiB and costs its reader a lot,
or has the right outer shape and the wrong inside."""

from __future__ import annotations

import copy
import json
import struct
import zipfile
import zlib
from pathlib import Path

import torch
from PIL import Image


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width x height` pixels in 65 bytes (its pixel data is empty)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def write_checkpoints(d: Path) -> None:
    cyclic: dict = {}
    cyclic["model"] = cyclic  # the loader used to follow "model" forever
    torch.save(cyclic, d / "cyclic.pth")
    deep = inner = {}
    for _ in range(200):
        inner["state_dict"] = {}
        inner = inner["state_dict"]
    torch.save(deep, d / "deep.pth")
    # 64 MiB of zeros deflated to ~64 KiB, in a torch-like zip layout: torch.load would inflate it first.
    with zipfile.ZipFile(d / "bomb.pth", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("archive/data/0", "w") as f:
            for _ in range(64):
                f.write(bytes(2**20))
        z.writestr("archive/data.pkl", b"not a pickle")


def write_images(d: Path) -> None:
    Image.new("RGB", (32, 32)).save(d / "ok.png")
    Image.new("RGB", (1, 20000)).save(d / "thin.png")  # 157 bytes; resized to 248 px wide it is 4.96 M px high
    (d / "huge.png").write_bytes(png_header(20000, 20000))  # Pillow's decompression-bomb error
    (d / "big.png").write_bytes(png_header(9000, 9000))  # 81 MP: over our 50 MP bound, under Pillow's
    (d / "text.png").write_text("not an image")


def _samples(n: int = 20, scale: float = 4.0) -> list[float]:
    return [scale * (1 + 0.01 * ((i * 7) % 5)) for i in range(n)]


def results_doc() -> dict:
    """A valid results document (schema 1) with one case."""
    return {
        "schema_version": 1, "kind": "swinprof-bench-results",
        "suite": {"name": "s", "device": "cpu", "metric": "cpu", "identity": "x", "cases": []},
        "environment": {"torch": "2", "cpu": "x", "threads": 1, "git_sha": "a" * 40, "git_dirty": False,
                        "timestamp": "2026-11-25T00:00:00+00:00"},
        "calibration": {"workload": "w", "samples_ms": _samples(scale=2.0), "cpu_ms": _samples(scale=2.0)},
        "cases": [{"id": "c1", "model": "swin_t", "res": 64, "config": {}, "samples_ms": _samples(),
                   "cpu_ms": _samples()}],
        "planted_slowdown": 1.0, "duration_s": 1.0,
    }  # fmt: skip


RESULTS_DAMAGE = {
    "cases-5": lambda d: d.update(cases=5),
    "environment-list": lambda d: d.update(environment=[]),
    "name-list": lambda d: d["suite"].update(name=["s"]),
    "zero-median": lambda d: d["cases"][0].update(cpu_ms=[0.0] * 20),
    "nan-samples": lambda d: d["cases"][0].update(samples_ms=[float("nan")] * 20),
    "short-samples": lambda d: d["cases"][0].update(samples_ms=[1.0] * 5, cpu_ms=[]),
    "config-list": lambda d: d["cases"][0].update(config=[1]),
}


def history_entry() -> dict:
    return {"history_version": 1, "suite": "s", "metric": "cpu", "git_sha": "a" * 40, "timestamp": "t",
            "planted_slowdown": 1.0, "calibration_ms": 2.0,
            "cases": {"c1": {"n": 20, "median_ms": 4.0, "cpu_median_ms": 3.9, "cpu_norm": 2.0}}}  # fmt: skip


HISTORY_DAMAGE = {
    "cases-list": lambda e: e.update(cases=[]),
    "median-string": lambda e: e["cases"]["c1"].update(cpu_norm="x"),
    "zero-median": lambda e: e["cases"]["c1"].update(cpu_norm=0),
    "suite-number": lambda e: e.update(suite=5),
    "version-true": lambda e: e.update(history_version=True),
}


def write_results(d: Path) -> None:
    (d / "good.json").write_text(json.dumps(results_doc()))
    for name, damage in RESULTS_DAMAGE.items():
        doc = copy.deepcopy(results_doc())
        damage(doc)
        (d / f"results-{name}.json").write_text(json.dumps(doc))
    (d / "results-deep.json").write_text("[" * 100_000)
    for name, damage in HISTORY_DAMAGE.items():
        entries = [history_entry() for _ in range(3)]
        damage(entries[1])
        (d / f"history-{name}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))


SUITE_HEAD = '[suite]\nname = "t"\nsamples = 4\nwarmup = 0\n'
SUITE_CASE = (
    '[[cases]]\nmodel = "swin_t"\nres = 64\n[cases.config]\nembed_dim = 16\ndepths = [1, 1, 1, 1]\n'
    "num_heads = [1, 1, 1, 1]\n"
)
SUITES = {
    "window-0": SUITE_CASE + "window_size = 0\n",
    "embed-string": SUITE_CASE.replace("embed_dim = 16", 'embed_dim = "x"'),
    "depths-string": SUITE_CASE.replace("depths = [1, 1, 1, 1]", 'depths = "abc"'),
    "batch-1e9": SUITE_CASE.replace("res = 64", "res = 64\nbatch = 1000000000"),
    "name-number": SUITE_CASE.replace("res = 64", "res = 64\nname = 5"),
    "img-size": SUITE_CASE + "img_size = 64\n",
    "deep": SUITE_CASE + "mlp_ratio = " + "[" * 5000 + "]" * 5000 + "\n",
    "device-tpu": 'device = "tpu"\n' + SUITE_CASE,
}
RECIPES = {
    "nan": "[tensorrt]\nworkspace_gb = nan\n",
    "opset-999": '[target]\nruntime = "onnxruntime"\n[quantize]\nmethod = "ort-int8-dynamic"\n[export]\nopset = 999\n',
    "res-8192": '[model]\nname = "swin_t"\nimg_size = 8192\n',
    "model": '[model]\nname = "swin_zz"\n',
    "attn": '[model]\nattn_impl = "nope"\n',
    "unknown-table": "[colour]\nx = 1\n",
}


def write_tomls(d: Path) -> None:
    for name, text in SUITES.items():
        (d / f"suite-{name}.toml").write_text(SUITE_HEAD + text)
    for name, text in RECIPES.items():
        (d / f"recipe-{name}.toml").write_text(text)
    (d / "tiny-suite.toml").write_text(SUITE_HEAD.replace("samples = 4", "samples = 400") + SUITE_CASE)


CLASS_MAPS = {
    "negative.json": b'{"red": -1}',
    "bool.json": b'{"red": true}',
    "deep.json": b"[" * 100_000,
    "binary.txt": b"\xff\xfe\x00red",
    "negative.txt": b"red -3\n",
}


def write_class_maps(d: Path) -> None:
    """The class maps, and image folders: `data` (one class folder, `red`) and `bombdata` (a 1x20000 image)."""
    for name, data in CLASS_MAPS.items():
        (d / f"classmap-{name}").write_bytes(data)
    (d / "classmap-valid.txt").write_text("red 0\n")
    (d / "data" / "red").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(d / "data" / "red" / "a.png")
    (d / "bombdata").mkdir()
    Image.new("RGB", (32, 32)).save(d / "bombdata" / "a.png")
    Image.new("RGB", (1, 20000)).save(d / "bombdata" / "b.png")


def write_all(d: Path) -> Path:
    write_class_maps(d)
    write_checkpoints(d)
    write_images(d)
    write_results(d)
    write_tomls(d)
    (d / "a-file").write_text("x")
    return d
