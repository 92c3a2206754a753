"""Step memory: the meters per row (tensor peak here, process peak in a fresh process), the per-config table,
infer mode, the attention probe, the budget search and the reports."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import torch

from swinprof.errors import MemoryOptionError
from swinprof.measure.isolated import run_isolated
from swinprof.measure.memory import TENSOR_PEAK, TensorPeak, forward_tensor_peak
from swinprof.models import create_model
from swinprof.optimize.memory_budget import BudgetResult, largest_batch, parse_bytes
from swinprof.optimize.memory_options import (
    MemoryConfig,
    ModelSpec,
    make_batch,
    make_optimizer,
    measure_step_memory,
    train_step,
)
from swinprof.studies import memory as study
from swinprof.studies.attention_peak import attention_peak_frame

TINY = dict(embed_dim=16, depths=(2, 2, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)
CPU = torch.device("cpu")
EVERY = (0, 1, 2, 3)


def tiny(name: str = "swinv2_t_w8", img_size: int = 64):
    torch.manual_seed(0)
    return create_model(name, img_size=img_size, **TINY)


def test_tracker_counts_live_storages_and_peak():
    tracker = TensorPeak()
    with tracker:
        a = torch.ones(1000)  # 4000 bytes
        b = a.view(10, 100)  # a view: no new storage
        c = a * 2
        assert tracker.current == 8000
        del a, b, c
        d = torch.zeros(250)
    assert tracker.current == 1000 and tracker.peak == 8000
    del d
    assert tracker.current == 0


def test_tracker_sees_backward_allocations():
    w = torch.randn(256, 256, requires_grad=True)
    tracker = TensorPeak()
    tracker.track([w])
    with tracker:
        (w @ w).sum().backward()
    assert tracker.current >= 2 * w.numel() * 4  # w and w.grad alive after backward


def test_rows_carry_both_meters_and_each_process_peak_comes_from_its_own_fresh_process(monkeypatch):
    children = []

    def spy(target, kwargs, **options):
        result = run_isolated(target, kwargs, **options)
        children.append(result)
        return result

    monkeypatch.setattr(study, "run_isolated", spy)
    configs = [MemoryConfig(), MemoryConfig(EVERY, "block"), MemoryConfig(seq_chunks=4)]
    df = study.compare_configs(ModelSpec("swinv2_t_w8", 64, TINY), configs, batch=2, device=CPU, iters=1, warmup=0)
    assert list(df["config"]) == [c.label for c in configs]
    pids = [c.value["pid"] for c in children]
    assert len(set(pids)) == 3 and os.getpid() not in pids  # one fresh process per row
    assert list(df["process_peak_bytes"]) == [c.process_peak_bytes for c in children]
    for row in df.to_dict(orient="records"):
        assert 0 < row["tensor_peak_bytes"] < row["process_peak_bytes"]  # a process holds more than its tensors
        assert row["process_floor_bytes"] < row["process_peak_bytes"]
        assert row["tensor peak (MiB)"] == row["tensor_peak_bytes"] / 2**20
    # One model and one AdamW for every row: identical static memory, optimizer state = 2 x params (+ steps).
    assert df["params (MiB)"].nunique() == 1 and df["optimizer state (MiB)"].nunique() == 1
    assert df["optimizer state (MiB)"].iloc[0] >= 2 * df["params (MiB)"].iloc[0]
    # each ratio is the row's peak over the baseline row's (not the baseline against itself)
    for meter in ("tensor peak", "process peak"):
        column, raw = f"{meter} vs baseline", f"{meter.replace(' ', '_')}_bytes"
        assert list(df[column]) == pytest.approx([v / df[raw].iloc[0] for v in df[raw]], rel=1e-3), column
    assert df["activations vs baseline"].iloc[1] < 0.5  # checkpointing keeps block inputs only
    assert df["activations vs baseline"].iloc[2] < 1.0  # chunks keep no scores of stages 1-2 for backward
    assert df["attn scores peak (MiB)"].iloc[2] < df["attn scores peak (MiB)"].iloc[0]
    assert (df["step median (ms)"] > 0).all()


def test_checkpointing_lowers_the_process_peak_too_with_the_pinned_allocator():
    # Big activations for a small model: at 256x256, batch 4, block checkpointing frees ~50 MiB of activations,
    # well above the few MiB by which a fresh process's resident set varies.
    spec, batch = ModelSpec("swinv2_t_w8", 256, TINY), 4
    base, ckpt = MemoryConfig(), MemoryConfig(EVERY, "block")
    model = spec.build(CPU)
    images, labels = make_batch(model, batch, 256, CPU)
    opt = make_optimizer(model)
    train_step(model, opt, images, labels)
    tensor = [measure_step_memory(c.apply(model), opt, images, labels).tensor_peak for c in (base, ckpt)]
    process = [study.process_peak(spec, c, "train", batch, CPU).peak for c in (base, ckpt)]
    assert tensor[1] < 0.6 * tensor[0]
    assert process[1] < 0.95 * process[0]
    assert process[0] - process[1] > 0.5 * (tensor[0] - tensor[1])  # RSS follows most of the tensor saving


def test_infer_baseline_tensor_peak_is_forward_tensor_peak_exactly():
    spec, batch = ModelSpec("swinv2_t_w8", 64, TINY), 2
    model = spec.build(CPU).eval()
    images, _ = make_batch(model, batch, 64, CPU)
    expected = forward_tensor_peak(lambda: model(images), CPU)
    configs = [MemoryConfig(), MemoryConfig(EVERY, "block"), MemoryConfig(seq_chunks=4)]
    df = study.compare_configs(spec, configs[::2], batch, CPU, mode="infer", iters=1, warmup=0)
    assert df["tensor_peak_bytes"].iloc[0] == expected > 0
    assert df["attn scores peak (MiB)"].iloc[1] < df["attn scores peak (MiB)"].iloc[0]
    assert "grads (MiB)" not in df.columns and "forward median (ms)" in df.columns
    rows, dropped = study.rows_for_mode(configs, "infer")  # checkpointing is a no-op under inference_mode
    assert [r.label for r in rows] == ["baseline", "seq-attn 4 chunks, stages 1,2"]
    assert dropped == ["checkpoint blocks 1,2,3,4"]


def _frame(tensor: list[int], process: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "config": [f"row {i}" for i in range(len(tensor))],
            "tensor peak (MiB)": tensor,
            "process peak (MiB)": process,
            "tensor peak vs baseline": [t / tensor[0] for t in tensor],
            "process peak vs baseline": [p / process[0] for p in process],
        }
    )


def test_a_saving_in_one_meter_only_is_said():
    notes = study.meter_agreement(_frame([100, 50, 95, 100], [1000, 990, 700, 1005]))
    assert len(notes) == 2
    assert notes[0].startswith("row 1: tensor peak -50% (-50.0 MiB) but process peak -1% (-10.0 MiB)")
    assert "shows in the tensor peak and not in the process peak" in notes[0]
    assert "shows in the process peak and not in the tensor peak" in notes[1]
    assert study.meter_agreement(_frame([100, 50], [1000, 700]))[0].startswith("Both meters agree")


def test_budget_report_names_the_tensor_peak_and_hides_raw_bytes():
    result = BudgetResult(2, 3 * 2**20, 4 * 2**20, [(1, 2**20, "measured"), (2, 3 * 2**20, "measured")])
    report = study.budget_report(result, "4MiB", MemoryConfig(), ModelSpec("swinv2_t_w8", 64, TINY), CPU, None)
    table = report.table("budget")
    assert "tensor_peak_bytes" in table.frame.columns and "tensor_peak_bytes" not in table.shown().columns
    assert any(TENSOR_PEAK in n for n in table.notes) and any("extrapolated" in n for n in table.notes)


def test_step_breakdown_is_consistent():
    model = tiny()
    images, labels = make_batch(model, 2, 64, CPU)
    opt = make_optimizer(model)
    train_step(model, opt, images, labels)
    m = measure_step_memory(model, opt, images, labels)
    # v2's q/v bias gradients are slices of the concatenated qkv-bias gradient: a few bytes over the params.
    assert m.params <= m.grads <= 1.01 * m.params
    assert m.tensor_peak >= m.params + m.grads + m.optimizer_state
    assert m.tensor_peak >= m.params + m.optimizer_state + m.activations


@pytest.mark.parametrize("chunks, backward", [(4, True), (3, True), (4, False)])
def test_sequential_attention_cuts_the_score_peak_by_the_expected_factor(chunks, backward):
    torch.manual_seed(0)
    # embed 24, not 16: a (B, 16, 16, 16) feature map would look like a score tensor of 16-token windows.
    model = create_model("swinv2_t_w8", img_size=64, **{**TINY, "embed_dim": 24})
    df = attention_peak_frame(model, stage=0, batch=2, res=64, chunks=chunks, device=CPU, backward=backward)
    measured, expected = df["scores factor (measured)"].iloc[1], df["scores factor (expected)"].iloc[1]
    assert expected == pytest.approx(32 / -(-32 // chunks))  # 2 images x 16 windows
    # Each chunk's score tensors are 1/chunks of the batched ones, and a chunk never holds more score-sized
    # temporaries than the batched path (which also keeps a bias+mask sum shared by the 2 images: up to 1.25x).
    assert expected <= measured <= 1.5 * expected
    assert df["working set factor"].iloc[1] > 1.0


def test_budget_search_finds_the_largest_fitting_batch():
    model = tiny()
    peaks = {}
    opt = make_optimizer(model)
    train_step(model, opt, *make_batch(model, 1, 64, CPU))
    for b in (3, 4):
        peaks[b] = measure_step_memory(model, opt, *make_batch(model, b, 64, CPU)).tensor_peak
    budget = (peaks[3] + peaks[4]) // 2
    result = largest_batch(tiny(), MemoryConfig(), 64, CPU, budget)
    assert result.batch == 3 and result.peak <= budget
    assert [p[0] for p in result.probes][:3] == [1, 2, 4]  # doubling, then bisection


def test_budget_too_small_for_batch_one_is_a_clear_error():
    with pytest.raises(MemoryOptionError, match="too small for batch 1"):
        largest_batch(tiny(), MemoryConfig(), 64, CPU, parse_bytes("1MiB"))


@pytest.mark.parametrize("text, value", [("8GiB", 8 * 2**30), ("512 MiB", 512 * 2**20), ("2GB", 2 * 10**9), ("10", 10)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["8 parsecs", "-1GiB", "0", "GiB"])
def test_parse_bytes_rejects_nonsense(text):
    with pytest.raises(MemoryOptionError):
        parse_bytes(text)


def test_bad_config_is_a_clear_error():
    with pytest.raises(MemoryOptionError, match="chunks >= 1"):
        MemoryConfig(seq_chunks=0)
    with pytest.raises(MemoryOptionError, match="granularity"):
        MemoryConfig((0,), "layer")
