"""ZeRO-1 on 2 gloo processes: optimizer state per rank about half, parameters in sync, same training as AdamW."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from swinprof.errors import MemoryOptionError

TINY = dict(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from swinprof.models import create_model
    from swinprof.optimize.memory_options import make_batch, train_step
    from swinprof.optimize.zero import build_optimizers, params_in_sync, zero_rows

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = create_model("swinv2_t_w8", img_size=64, **TINY)
        rows = zero_rows(model, batch=2, res=64, device=torch.device("cpu"), iters=1, warmup=0)
        after_rows = params_in_sync(model)
        # Same init, same data: ZeRO-1 AdamW must train exactly like plain AdamW on DDP.
        results = {}
        for name in ("plain", "zero"):
            torch.manual_seed(0)
            m = create_model("swinv2_t_w8", img_size=64, **TINY, drop_path_rate=0.0)
            ddp = DistributedDataParallel(m)
            plain, zero = build_optimizers(ddp)
            opt = plain if name == "plain" else zero
            images, labels = make_batch(m, 2, 64, torch.device("cpu"), seed=rank)
            for _ in range(3):
                train_step(ddp, opt, images, labels)
            results[name] = torch.cat([p.detach().reshape(-1) for p in m.parameters()])
            results[name + "_sync"] = params_in_sync(m)
        out = {
            "rows": rows.to_dict(orient="records") if rank == 0 else None,
            "in_sync_after_rows": after_rows,
            "plain_sync": results["plain_sync"],
            "zero_sync": results["zero_sync"],
            "max_diff_vs_plain": float((results["plain"] - results["zero"]).abs().max()),
        }
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(out, f)
    finally:
        dist.destroy_process_group()


def test_zero1_on_two_gloo_processes(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    rows = ranks[0]["rows"]
    zero = [r for r in rows if r["optimizer"] == "DDP + ZeRO-1 AdamW"]
    plain = [r for r in rows if r["optimizer"] == "DDP + AdamW"]
    assert sorted(r["rank"] for r in zero) == [0, 1] and len(plain) == 2
    for r in zero:
        assert 0.35 <= r["optimizer state vs full AdamW"] <= 0.65  # about half on each of 2 ranks
    for r in rows:  # the per-rank meter is the tensor peak, raw bytes beside the MiB column
        assert r["tensor peak (MiB)"] == r["tensor_peak_bytes"] / 2**20 > r["optimizer state (MiB)"]
    assert sum(r["optimizer state (MiB)"] for r in zero) == pytest.approx(plain[0]["optimizer state (MiB)"], rel=0.01)
    for r in ranks:
        assert r["in_sync_after_rows"] and r["plain_sync"] and r["zero_sync"]
        assert r["max_diff_vs_plain"] < 1e-5

    _check_report(rows)


def _check_report(rows: list[dict]) -> None:
    import pandas as pd

    from swinprof.measure.memory import TENSOR_PEAK
    from swinprof.optimize.memory_options import MemoryConfig, ModelSpec
    from swinprof.studies.memory import zero_report

    spec = ModelSpec("swinv2_t_w8", 64, TINY)
    report = zero_report(pd.DataFrame(rows), MemoryConfig(), spec, 2, torch.device("cpu"), None, "gloo", 1, 0)
    table = report.table("zero")
    assert report.settings["world_size"] == 2 and "tensor_peak_bytes" not in table.shown().columns
    assert any(TENSOR_PEAK in n for n in table.notes) and any("No process peak" in n for n in table.notes)


def test_zero_without_torchrun_is_a_clear_error(monkeypatch):
    from swinprof.optimize.zero import distributed_env

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(MemoryOptionError, match="torchrun --nproc-per-node"):
        distributed_env()
