"""The busy-machine warning every timed report carries: when it fires, what it says, what it spares."""

from __future__ import annotations

from swinprof.measure.environment import busy_warning, environment, load_average


def test_more_runnable_work_than_cores_is_a_warning_about_times_only():
    env = {"cpu_count": 2, "device": "cpu", "load_1min": 1.0}
    assert busy_warning(env, 0.5) == []
    assert busy_warning({**env, "load_1min": 2.0}) == []  # load equal to the cores: each core busy, none shared
    (warning,) = busy_warning(env, 4.1, unaffected="the memory meters")
    assert "load 4.1 -> 1.0 (start -> end) on 2 cores" in warning
    assert "times and their ratios are unreliable" in warning and "the memory meters do not depend on load" in warning
    (end_only,) = busy_warning({**env, "load_1min": 3.5})
    assert "load 3.5 on 2 cores" in end_only and "start" not in end_only


def test_gpu_timings_and_unknown_load_give_no_warning():
    assert busy_warning({"cpu_count": 2, "device": "cuda", "load_1min": 9.0}, 9.0) == []
    assert busy_warning({"cpu_count": 2, "device": "cpu", "load_1min": None}) == []


def test_environment_records_the_load_it_is_judged_by():
    env = environment("cpu")
    assert env["load_1min"] is None or env["load_1min"] >= 0
    assert isinstance(load_average(), float | None)
