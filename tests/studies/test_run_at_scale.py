"""`swinprof run --data` at scale, end to end in real processes: one process, `torchrun --nproc-per-node 2` and
two torchrun "nodes" on localhost (c10d rendezvous) give the same per-image top-1 and accuracy table (gloo); a run
killed with SIGKILL half way resumes to the report an uninterrupted run writes; a killed rank stops the others
with no report; ranks launched differently refuse before any work."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swinprof.evaluate.journal import FOLDER
from tests.evaluate.test_pipeline import write_photos

RUN = ["run", "fp32-eager", "int8-dynamic", "--model", "swin_digits", "--batch-sizes", "2", "--iters", "1",
       "--warmup", "0", "--eval-batch", "4", "--fidelity-samples", "6", "--no-process-memory", "--quiet",
       "--format", "json"]  # fmt: skip
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_photos(tmp_path_factory.mktemp("scale") / "data", count=30)
    return ["--data", str(root), "--class-map", str(root.parent / "classes.txt")]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), *sys.path])}


def swinprof(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swinprof", *args], capture_output=True, text=True, timeout=timeout,
                          env=_env())  # fmt: skip


def torchrun(*args: str, nproc: int = 2, nodes: int = 1, port: int | None = None) -> subprocess.Popen:
    """One torchrun launcher: standalone with `nproc` ranks, or one of `nodes` nodes meeting at localhost:`port`."""
    meet = ["--nnodes", str(nodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "--rdzv-id", "t"]
    launch = ["--standalone"] if nodes == 1 else meet
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *launch, "--nproc-per-node", str(nproc),
                             "-m", "swinprof", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), start_new_session=True)  # fmt: skip


def finished(*launchers: subprocess.Popen) -> list[tuple[int, str]]:
    out = []
    for p in launchers:
        _, err = p.communicate(timeout=TIMEOUT_S)
        out.append((p.returncode, err))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def per_image(out: Path) -> dict:
    record = json.loads((out / "record.json").read_text())
    return {name: dict(zip(a["ids"], a["predictions"])) for name, a in record["accuracy"].items()}


def accuracy_table(out: Path) -> list[dict]:
    return next(t["rows"] for t in json.loads((out / "report.json").read_text())["tables"] if t["key"] == "accuracy")


@pytest.mark.slow  # three runs, five processes: ~1 min on 2 quiet cores
def test_one_process_two_ranks_and_two_nodes_agree_on_every_image(data, tmp_path):
    single = swinprof(*RUN, *data, "-o", str(tmp_path / "single"), "--workers", "0")
    assert single.returncode == 0, single.stderr
    [(code, err)] = finished(torchrun(*RUN, *data, "-o", str(tmp_path / "ranks"), "--workers", "1"))
    assert code == 0, err
    port = free_port()
    nodes = [torchrun(*RUN, *data, "-o", str(tmp_path / "nodes"), nproc=1, nodes=2, port=port) for _ in range(2)]
    assert [code for code, _ in finished(*nodes)] == [0, 0]
    expected = per_image(tmp_path / "single")
    assert len(expected["fp32-eager"]) == 30
    for run in ("ranks", "nodes"):
        assert per_image(tmp_path / run) == expected, run  # same image -> same top-1, for every recipe
        assert accuracy_table(tmp_path / run) == accuracy_table(tmp_path / "single"), run
        record = json.loads((tmp_path / run / "record.json").read_text())
        assert record["inputs"]["ranks"].startswith("2 ranks (gloo)") and record["evaluation"]["ranks"] == 2
    assert "2 nodes" in json.loads((tmp_path / "nodes" / "record.json").read_text())["inputs"]["ranks"]


def test_two_ranks_agree_with_one_process(data, tmp_path):
    """The default suite's check of the sharding: 2 gloo ranks on one machine, fp32 only (fast)."""
    args = [a for a in RUN if a != "int8-dynamic"]
    single = swinprof(*args, *data, "-o", str(tmp_path / "single"), "--workers", "0")
    assert single.returncode == 0, single.stderr
    [(code, err)] = finished(torchrun(*args, *data, "-o", str(tmp_path / "ranks"), "--workers", "0"))
    assert code == 0, err
    assert per_image(tmp_path / "ranks") == per_image(tmp_path / "single")
    assert accuracy_table(tmp_path / "ranks") == accuracy_table(tmp_path / "single")


def _kill_when_committed(process: subprocess.Popen, journal: Path, pid_of=None) -> int:
    """SIGKILL the run (or the process `pid_of()` names) once its journal holds a first chunk; committed chunks."""
    deadline = time.monotonic() + TIMEOUT_S
    while not list(journal.glob("chunk-*.pt")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(pid_of() if pid_of else process.pid, signal.SIGKILL)
    process.wait(timeout=TIMEOUT_S)
    return len(list(journal.glob("chunk-*.pt")))


@pytest.mark.slow  # ~35 s: 240 ImageNet-sized JPEGs, five runs (the journal's resume logic: tests/evaluate)
def test_a_run_killed_half_way_resumes_to_the_uninterrupted_report(tmp_path):
    root = write_photos(tmp_path / "data", count=240, size=(500, 375))  # ImageNet's commonest size: ~1-2 s to decode
    args = [a for a in RUN if a != "int8-dynamic"] + ["--data", str(root), "--class-map", str(tmp_path / "classes.txt"),
                                                      "--eval-batch", "1", "--workers", "0"]  # fmt: skip
    whole = swinprof(*args, "-o", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    run = subprocess.Popen([sys.executable, "-m", "swinprof", *args, "-o", str(out)], env=_env(),
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    chunks = _kill_when_committed(run, out / FOLDER)
    assert run.returncode == -signal.SIGKILL and not (out / "report.md").exists()
    assert chunks < 240 / 8, "the run ended before it could be killed half way"
    refused = swinprof(*args, "-o", str(out))  # the same folder without --resume: refused, journal kept
    assert refused.returncode == 2 and "--resume" in refused.stderr and (out / FOLDER).is_dir()
    other = swinprof(*args, "-o", str(out), "--resume", "--seed", "3")
    assert other.returncode == 2 and "options.seed was 0, now 3" in other.stderr
    resumed = swinprof(*args, "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert per_image(out) == per_image(tmp_path / "whole") and accuracy_table(out) == accuracy_table(tmp_path / "whole")
    fidelity = [json.loads((d / "record.json").read_text())["fidelity"] for d in (out, tmp_path / "whole")]
    assert fidelity[0] == fidelity[1]
    evaluation = json.loads((out / "record.json").read_text())["evaluation"]
    assert 0 < evaluation["resumed"] < 240 and evaluation["resumed"] + evaluation["images"] == 240
    assert not (out / FOLDER).exists()  # published: nothing left to resume


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in _descendants(c)]


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The pid of the worker process torchrun started as `rank` (its RANK in /proc/<pid>/environ)."""
    for pid in _descendants(launcher.pid):
        try:
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no worker of rank {rank}")


@pytest.mark.slow  # ~10 s
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the worker through /proc")
def test_a_killed_rank_stops_the_others_with_no_report(tmp_path):
    root = write_photos(tmp_path / "data", count=240, size=(500, 375))
    args = [a for a in RUN if a != "int8-dynamic"] + ["--data", str(root), "--class-map", str(tmp_path / "classes.txt"),
                                                      "--eval-batch", "1", "--workers", "0"]  # fmt: skip
    out = tmp_path / "out"
    launcher = torchrun(*args, "-o", str(out))
    start = time.monotonic()
    _kill_when_committed(launcher, out / FOLDER, pid_of=lambda: _rank_pid(launcher, 1))
    assert launcher.returncode != 0 and time.monotonic() - start < 120
    assert not (out / "report.md").exists() and not (out / "record.json").exists()


def test_ranks_launched_with_other_arguments_stop_before_any_work(data, tmp_path):
    port = free_port()
    nodes = [torchrun(*RUN, *data, "--limit", str(limit), "-o", str(tmp_path / "out"), nproc=1, nodes=2, port=port)
             for limit in (30, 20)]  # fmt: skip
    results = finished(*nodes)
    assert all(code != 0 for code, _ in results)
    errors = "".join(err for _, err in results)
    assert re.search(r"swinprof: error: rank 1 was launched with \S*\.limit (20|30), rank 0 with (30|20)", errors)
    assert not (tmp_path / "out" / "report.md").exists()


def test_resume_needs_the_output_folder(data):
    refused = swinprof(*RUN, *data, "--resume")
    assert refused.returncode == 2 and "--resume continues a run that wrote into -o DIR" in refused.stderr


@pytest.mark.slow  # ~30 s on 2 quiet cores: a prepare per process, twice
def test_sensitivity_splits_its_probes_over_two_ranks_and_ranks_alike(tmp_path):
    args = ["sensitivity", "swin_digits", "--recipe", "int8-dynamic", "--samples", "4", "--format", "json"]
    single = swinprof(*args, "-o", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    [(code, err)] = finished(torchrun(*args, "-o", str(tmp_path / "ranks")))
    assert code == 0, err

    def ranking(out: Path) -> list[dict]:
        tables = json.loads((out / "sensitivity.json").read_text())["tables"]
        return next(t["rows"] for t in tables if t["key"] == "sensitivity")

    assert ranking(tmp_path / "ranks") == ranking(tmp_path / "single") and len(ranking(tmp_path / "single")) == 18
