import statistics
import time

import pytest
import torch

from swinprof.track.bench_rounds import run_suite, with_planted_slowdown
from swinprof.track.results import load_results, save_results
from swinprof.track.suite import parse_suite

TINY = {
    "suite": {"name": "unit", "threads": 1, "warmup": 1, "samples": 4, "metric": "cpu"},
    "cases": [
        {
            "name": "tiny",
            "model": ["swin_t", "swinv2_t_w8"],
            "res": 64,
            "batch": 1,
            "config": {
                "embed_dim": 16,
                "depths": [1, 1, 1, 1],
                "num_heads": [1, 1, 2, 2],
                "window_size": 4,
                "num_classes": 10,
            },
        }
    ],
}


def test_run_suite_records_paired_rounds_and_the_environment(tmp_path):
    threads = torch.get_num_threads()
    r = run_suite(parse_suite(TINY), samples=5)
    assert torch.get_num_threads() == threads  # restored
    assert len(r.calibration_ms) == 5 and len(r.calibration["cpu_ms"]) == 5
    assert [len(c.samples_ms) for c in r.cases] == [5, 5]
    assert all(len(c.cpu_ms) == 5 and min(c.samples_ms) > 0 for c in r.cases)
    assert r.environment["threads"] == 1 and r.environment["torch"] == torch.__version__
    assert r.suite["identity"] and r.planted_slowdown == 1.0
    back = load_results(save_results(r, tmp_path / "r.json"))
    assert back.to_dict() == r.to_dict()


def test_planted_slowdown_scales_cpu_time():
    def work():  # exactly 4 ms of CPU, so the test measures the wrapper and not the machine
        end = time.process_time() + 0.004
        while time.process_time() < end:
            pass

    def cpu_ms(fn):
        samples = []
        for _ in range(5):
            t0 = time.process_time()
            fn()
            samples.append((time.process_time() - t0) * 1e3)
        return statistics.median(samples)

    assert with_planted_slowdown(work, 1.0, torch.device("cpu")) is work
    assert cpu_ms(with_planted_slowdown(work, 1.5, torch.device("cpu"))) == pytest.approx(6.0, rel=0.05)
    assert cpu_ms(with_planted_slowdown(work, 2.0, torch.device("cpu"))) == pytest.approx(8.0, rel=0.05)


def test_planted_slowdown_below_one_is_refused():
    from swinprof.errors import SwinprofError

    with pytest.raises(SwinprofError, match="planted slowdown"):
        run_suite(parse_suite(TINY), planted_slowdown=0.9)


def test_rounds_split_over_worker_processes_are_pooled_in_order():
    r = run_suite(parse_suite(TINY), samples=5, warmup=0, processes=2)
    assert r.extra["processes"] == 2
    assert len(r.calibration_ms) == 5 and all(len(c.samples_ms) == 5 and len(c.cpu_ms) == 5 for c in r.cases)
    assert r.environment["threads"] == 1
