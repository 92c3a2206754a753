"""The tensor-peak meter: fresh storages counted once, views and pre-existing tensors never, frees followed."""

from __future__ import annotations

import torch

from swinprof.measure.memory import TensorPeak, forward_tensor_peak, read_process_current, read_process_peak

MB4 = 1000 * 1000 * 4  # bytes of a 1000x1000 fp32 tensor


def test_live_tensors_counted_once_and_freed():
    x = torch.randn(1000, 1000)

    def two_live():
        a = x @ x
        b = a.relu()  # a and b alive together
        del a
        return b + 1  # a freed before c: still two at most

    def one_buffer_and_views():
        a = x @ x
        a.relu_()  # in place: same storage
        return a.view(-1)[:10]

    assert forward_tensor_peak(two_live) == 2 * MB4
    assert forward_tensor_peak(one_buffer_and_views) == MB4


def test_views_of_existing_weights_are_not_allocations():
    """A transposed view of a 4 MB weight (what nn.Linear does) costs nothing; the old counter said 4 MB."""
    weight = torch.randn(1000, 1000)
    x = torch.randn(10, 1000)
    meter = TensorPeak()
    with torch.inference_mode(), meter:
        wt = weight.t()  # aten.t: a view of a storage that existed before the meter
        y = x @ wt  # (10, 1000) fp32: 40,000 bytes
    assert meter.peak == 10 * 1000 * 4
    del y, wt


def test_track_counts_existing_tensors_and_reset_peak_starts_over():
    params = [torch.randn(1000, 1000), torch.randn(1000, 1000)]
    meter = TensorPeak()
    assert meter.track(params) == 2 * MB4
    assert meter.track([params[0].view(-1)]) == 0  # same storage, counted once
    with meter:
        tmp = params[0] * 2
        del tmp
    assert meter.peak == 3 * MB4 and meter.current == 2 * MB4
    meter.reset_peak()
    assert meter.peak == 2 * MB4


def test_meta_device_counts_like_cpu():
    """The profile's count pass runs on the meta device: it must count exactly what the CPU run counts."""
    from swinprof.models import create_model
    from tests.conftest import tiny_model

    for name in ("swin_t", "swinv2_t_w8"):
        cpu = tiny_model(name)
        x = torch.randn(2, 3, 128, 128)
        meta = create_model(name, device="meta", **_tiny_config()).eval()
        mx = torch.empty(2, 3, 128, 128, device="meta")
        on_cpu = forward_tensor_peak(lambda m=cpu, x=x: m(x))
        assert on_cpu == forward_tensor_peak(lambda m=meta, x=mx: m(x), "meta") > 0


def _tiny_config() -> dict:
    from tests.conftest import TINY

    return TINY


def test_process_readings_are_bytes_of_this_process():
    current, peak = read_process_current(), read_process_peak()
    assert current is not None and peak is not None
    assert 10 * 2**20 < current <= peak  # an interpreter with torch holds far more than 10 MiB
