import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swinprof.errors import ResultsError
from swinprof.track.history import add_results, append_entry, load_history, step_changes

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from swinprof.track.history import append_entry
store, i = sys.argv[1], 0
payload = "x" * 50_000  # a big entry: each rewrite takes a while, so kills land mid-write
while True:
    append_entry(store, {"history_version": 1, "suite": "s", "cases": {}, "i": i, "pad": payload})
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_append_and_load(tmp_path, make_results):
    store = tmp_path / "reports" / "history.jsonl"
    assert load_history(store) == []
    assert add_results(store, make_results(1)) == 1
    assert add_results(store, make_results(2, scale=1.2)) == 2
    entries = load_history(store)
    assert [e["suite"] for e in entries] == ["ci-bench-tiny", "ci-bench-tiny"]
    case = entries[1]["cases"]["tiny:swin_t/64/b2/reference/fp32-eager"]
    assert {"median_ms", "p10_ms", "p90_ms", "cpu_median_ms", "wall_norm", "cpu_norm"} <= set(case)
    assert case["cpu_norm"] / entries[0]["cases"]["tiny:swin_t/64/b2/reference/fp32-eager"]["cpu_norm"] > 1.1


def test_a_damaged_store_is_reported_and_never_rewritten(tmp_path):
    store = tmp_path / "h.jsonl"
    store.write_text('{"history_version": 1, "suite": "s", "cases": {}}\n{"history_vers')
    before = store.read_text()
    with pytest.raises(ResultsError, match="line 2 is not valid JSON"):
        load_history(store)
    with pytest.raises(ResultsError):
        append_entry(store, {"history_version": 1, "suite": "s", "cases": {}})
    assert store.read_text() == before


def test_a_killed_writer_leaves_the_history_readable(tmp_path):
    """SIGKILL a process that appends in a loop, several times at random points: every line stays whole."""
    store = tmp_path / "h.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for attempt in range(2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store)], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.07 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        entries = load_history(store)  # raises on a torn line
        assert len(entries) >= 3 * (attempt + 1)
        assert all(len(e["pad"]) == 50_000 for e in entries)
    # Stale temp files may remain from the kills; they are not the store and do not affect it.
    assert append_entry(store, {"history_version": 1, "suite": "s", "cases": {}, "pad": ""}) == len(entries) + 1


def test_step_changes():
    flat = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01]
    assert step_changes(flat, 0.05) == []
    stepped = [*flat[:5], 1.2, 1.21, 1.19, 1.2]
    steps = step_changes(stepped, 0.05)
    assert [s.index for s in steps] == [5]
    assert steps[0].ratio == pytest.approx(1.2, rel=0.02)
    faster = [2.0, 2.02, 1.98, 2.01, 1.6, 1.61, 1.59]
    assert [round(s.ratio, 1) for s in step_changes(faster, 0.05)] == [0.8]
    one_spike = [1.0, 1.0, 1.0, 1.5, 1.0, 1.0, 1.0]  # an outlier is not a step
    assert step_changes(one_spike, 0.05) == []


def test_history_shows_what_regress_decides_on(tmp_path, make_results):
    """A planted 15% slowdown measured on a faster (less loaded) machine: raw ms go DOWN, the calibration-normalised
    metric goes up. The old history table and plot showed raw ms (the slowdown plotted as faster) and found no step."""
    from swinprof.track.report import history_frame, steps_frame

    store = tmp_path / "h.jsonl"
    for seed in range(5):
        add_results(store, make_results(seed))
    fast_machine = make_results(9, scale=1.15 * 0.8)  # the code is 15% slower, the machine 20% faster ...
    fast_machine.calibration["samples_ms"] = [v * 0.8 for v in fast_machine.calibration["samples_ms"]]
    fast_machine.calibration["cpu_ms"] = [v * 0.8 for v in fast_machine.calibration["cpu_ms"]]  # ... for all work
    add_results(store, fast_machine)
    entries = load_history(store)
    frame = history_frame(entries, "ci-bench-tiny")
    case = "tiny:swin_t/64/b2/reference/fp32-eager"
    norm, raw = frame[f"{case} cpu/cal"], frame[f"{case} cpu ms"]
    assert norm.iloc[-1] / norm.iloc[:-1].median() == pytest.approx(1.15, rel=0.03)  # what regress sees
    assert raw.iloc[-1] < raw.iloc[:-1].min()  # raw ms alone would say "faster"
    assert frame["run"].is_unique  # runs of one commit stay distinguishable
    steps = steps_frame(entries, "ci-bench-tiny", 0.05)
    latest = steps[(steps["case"] == case) & (steps["kind"] == "latest run (confirm)")]
    assert len(latest) == 1 and latest["direction"].iloc[0] == "slower"
    assert latest["change %"].iloc[0] == pytest.approx(15, abs=3)


def test_latest_change_is_not_called_inside_the_noise():
    from swinprof.track.history import latest_change

    assert latest_change([1.0, 1.02, 0.98, 1.01, 1.03]) is None
    assert latest_change([1.0, 1.02, 0.98, 1.01, 1.2]).ratio == pytest.approx(1.2, rel=0.02)
    assert latest_change([1.0, 1.3, 0.98, 1.01, 1.2]) is None  # not beyond every earlier run: no clean change
