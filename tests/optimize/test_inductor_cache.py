"""Inductor's cache stays usable after an interrupted build: the cut binaries it leaves are found, removed under
inductor's own build lock, and reported; whole files and builds in progress are left alone.

A real ELF file (a CPython extension module) and its cut copies stand in for inductor's outputs; the slow test
runs the real thing: an inductor compile whose cached binaries were all cut to 0 bytes.
"""

from __future__ import annotations

import _ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from torch import nn

from swinprof.optimize.compile import CompiledModel
from swinprof.optimize.inductor_cache import repair_inductor_cache, unusable_binary

ROOT = Path(__file__).resolve().parents[2]
ELF = Path(_ctypes.__file__)


def _plant(cache: Path) -> dict[str, Path]:
    """A cache folder as an interrupted build leaves it: one whole binary and three unusable ones."""
    (cache / "ab").mkdir(parents=True)
    (cache / "locks").mkdir()
    files = {name: cache / "ab" / name for name in ("cwhole.main.so", "cempty.so", "ccut.main.so", "ctext.o")}
    shutil.copyfile(ELF, files["cwhole.main.so"])
    files["cempty.so"].write_bytes(b"")
    files["ccut.main.so"].write_bytes(ELF.read_bytes()[: ELF.stat().st_size // 2])
    files["ctext.o"].write_text("not a binary")
    (cache / "ab" / "cempty.cpp").write_text("")  # sources are inductor's to judge, never removed here
    return files


def test_unusable_binaries_are_recognised():
    assert unusable_binary(ELF) is None
    assert unusable_binary(os.devnull) == "0 bytes"


def test_repair_removes_cut_binaries_and_says_which(tmp_path):
    files = _plant(tmp_path)
    repair = repair_inductor_cache(tmp_path)
    assert set(repair.removed) == {"ab/cempty.so", "ab/ccut.main.so", "ab/ctext.o"}
    assert repair.removed["ab/cempty.so"] == "0 bytes" and repair.removed["ab/ctext.o"] == "not an ELF file"
    assert repair.removed["ab/ccut.main.so"].startswith(f"cut at {ELF.stat().st_size // 2} of at least")
    assert files["cwhole.main.so"].is_file() and (tmp_path / "ab" / "cempty.cpp").is_file()
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == ["cempty.cpp", "cwhole.main.so"]
    text = repair.message()
    assert text.startswith(f"removed 3 unusable compiled files from torch inductor's cache {tmp_path}")
    assert "ab/cempty.so (0 bytes)" in text and not repair_inductor_cache(tmp_path)


def test_a_build_in_progress_is_left_alone(tmp_path):
    """Inductor holds `locks/<key>.lock` while it builds a key: a short file under a held lock is being written."""
    files = _plant(tmp_path)
    with FileLock(str(tmp_path / "locks" / "cempty.lock")):
        repair = repair_inductor_cache(tmp_path)
    assert "ab/cempty.so" not in repair.removed and files["cempty.so"].exists()
    assert repair_inductor_cache(tmp_path).removed == {"ab/cempty.so": "0 bytes"}


def test_the_first_inductor_model_of_a_process_repairs_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    files = _plant(tmp_path)
    compiled = CompiledModel(nn.Linear(4, 4), backend="inductor")  # compiles lazily: nothing built yet
    assert not files["cempty.so"].exists() and files["cwhole.main.so"].exists()
    (line,) = compiled.stats().problems()
    assert line.startswith("removed 3 unusable compiled files from torch inductor's cache")
    assert compiled.stats().as_dict()["cache_repair"] == line
    assert CompiledModel(nn.Linear(4, 4), backend="inductor").stats().problems() == []  # one scan per process


def test_ctrl_c_repairs_what_the_interrupted_command_left(tmp_path, monkeypatch, capsys):
    """The interrupt handler removes what this command's builds left cut (not older files) and says so."""
    import torch._inductor.codecache  # noqa: F401  (the interrupted command had loaded inductor)

    import swinprof.cli.models as models_cli
    from swinprof.cli.main import main

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    files = _plant(tmp_path)
    old = time.time() - 3600
    for path in files.values():
        os.utime(path, (old, old))

    def interrupted_build(args):
        files["cempty.so"].write_bytes(b"")  # the linker's output as Ctrl-C left it
        raise KeyboardInterrupt

    monkeypatch.setattr(models_cli, "run", interrupted_build)
    assert main(["models"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; no partial report was written; removed 1 unusable compiled file from" in err
    assert len(err.strip().splitlines()) == 1 and err.strip().endswith("it): ab/cempty.so (0 bytes)")
    assert not files["cempty.so"].exists()
    assert files["ctext.o"].exists() and files["ccut.main.so"].exists()  # older: not this command's to judge


COMPILE = """
import torch
from torch import nn
from swinprof.optimize.compile import CompiledModel
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 64), nn.GELU(), nn.LayerNorm(64)).eval()
compiled = CompiledModel(model)
x = torch.randn(8, 64)
torch.testing.assert_close(compiled(x), model(x))
code = "\\n".join(c for codes in compiled.codes.values() for c in codes)
print("VECTORIZED" if "at::vec::Vectorized" in code else "SCALAR")
print("\\n".join(compiled.stats().problems()))
"""


@pytest.mark.slow
def test_a_cache_cut_by_an_interrupted_build_compiles_vectorized_again(tmp_path):
    """Reproduces what Ctrl-C during a compile leaves: every binary of a real inductor build cut to 0 bytes. The
    kernels' own .so then fail to load ("file too short") and a cut vector-ISA probe silently turns every kernel
    scalar; the next swinprof compile removes them, rebuilds vectorized code and says so."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def compile_once() -> list[str]:
        proc = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.splitlines()

    assert compile_once()[0] == "VECTORIZED"
    binaries = [p for p in tmp_path.rglob("*.so")]
    assert len(binaries) >= 2  # the vector-ISA probe and at least one kernel
    for path in binaries:
        path.write_bytes(b"")
    out = compile_once()
    assert out[0] == "VECTORIZED"
    assert out[1].startswith(f"removed {len(binaries)} unusable compiled files from torch inductor's cache")
    assert all(unusable_binary(p) is None for p in tmp_path.rglob("*.so"))


def test_a_bench_suite_with_compile_cases_repairs_before_building(tmp_path, monkeypatch):
    """`bench` compiles its `*-compile` cases with torch.compile directly (no CompiledModel): the suite repairs
    the cache before its accuracy pass or rounds compile, once per process, and its results say what was removed
    whichever step asked first; an eager-only suite leaves the cache alone."""
    from swinprof.optimize import inductor_cache
    from swinprof.track.bench_rounds import repair_cache_for
    from swinprof.track.suite import parse_suite

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(inductor_cache, "_CHECKED", {})
    files = _plant(tmp_path)
    case = {"model": "swin_t", "res": 224, "batch": 1}
    eager = parse_suite({"suite": {"name": "e"}, "cases": [{**case, "recipe": "fp32-eager"}]})
    assert repair_cache_for(eager) == "" and files["cempty.so"].exists()
    compiled = parse_suite({"suite": {"name": "c"}, "cases": [{**case, "recipe": ["fp32-eager", "fp32-compile"]}]})
    line = repair_cache_for(compiled)
    assert line.startswith(f"removed 3 unusable compiled files from torch inductor's cache {tmp_path}")
    assert not files["cempty.so"].exists() and files["cwhole.main.so"].exists()
    assert repair_cache_for(compiled) == line  # asked again (the accuracy pass repaired first): the same report
