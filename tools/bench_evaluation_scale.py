"""Evaluation at scale on this machine: the data pipeline alone, then `swinprof run --data` end to end.

    python tools/bench_evaluation_scale.py DATA -o reports/scale/NAME [--repeats 2] [--end-to-end-images 400]

DATA: an image folder (e.g. `swinprof make-images DATA --count 2000`). Part 1 streams every image through the data
pipeline (`evaluate.pipeline.stream`: decode + preprocess to 224x224, batches of 16, nothing else) with 0, 1 and
2 worker processes, the three interleaved in each repeat so a change in the machine's load hits them alike.
Part 2 runs `swinprof run fp32-eager openvino-int8 --model swin_t --data DATA --limit N` in one process with 0
workers, in one process with the default workers, under `torchrun --nproc-per-node 2`, and as two torchrun nodes of
one process (c10d rendezvous on localhost), reads each run's evaluation rates from its record, and lists the images
on which a way's top-1 differs from the single-process run. Both parts go into one report (md, json, csv) in
`-o`, with the CPU, its features and the load before and after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from swinprof.evaluate.imagefolder import scan_unlabeled
from swinprof.evaluate.pipeline import BatchedImages, stream
from swinprof.measure.environment import environment, load_average
from swinprof.models.preprocess import build_transform
from swinprof.report.document import Report
from swinprof.report.writer import write_report

WORKERS = (0, 1, 2)
RECIPES = ("fp32-eager", "openvino-int8")


def pipeline_rates(data: str, repeats: int, batch: int) -> pd.DataFrame:
    """img/s of the data pipeline alone per worker count, one row per (repeat, workers)."""
    images = scan_unlabeled(data)
    batches = BatchedImages(images, build_transform(224), batch)
    rows = []
    for repeat in range(repeats):
        order = WORKERS if repeat % 2 == 0 else tuple(reversed(WORKERS))
        for workers in order:
            start = time.perf_counter()
            count = sum(b.size for b in stream(batches, range(len(batches)), workers))
            wall = time.perf_counter() - start
            rows.append({"repeat": repeat + 1, "workers": workers, "images": count, "wall s": wall,
                         "img/s": count / wall})  # fmt: skip
            print(f"pipeline repeat {repeat + 1}, {workers} workers: {count / wall:.1f} img/s", file=sys.stderr)
    return pd.DataFrame(rows)


def _ratio_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for repeat, part in frame.groupby("repeat"):
        rate = dict(zip(part["workers"], part["img/s"]))
        rows.append({"repeat": repeat, "1 worker / 0": rate[1] / rate[0], "2 workers / 1": rate[2] / rate[1],
                     "2 workers / 0": rate[2] / rate[0]})  # fmt: skip
    return pd.DataFrame(rows)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _two_nodes(common: list[str], out: Path) -> None:
    """Two torchrun launchers of one process each, meeting through a c10d rendezvous on localhost."""
    port = _free_port()
    argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "--rdzv-id", "bench", "-m", "swinprof",
            *common, "-o", str(out)]  # fmt: skip
    nodes = [subprocess.Popen(argv, stdout=subprocess.DEVNULL) for _ in range(2)]
    if any(node.wait() for node in nodes):
        raise SystemExit("the two-node run failed")


def _differing(records: dict[str, dict], data: str, class_map: str | None) -> pd.DataFrame:
    """Per way and recipe: images whose top-1 differs from the single-process run, with the fp32 logit margin
    (top-1 minus top-2 of fp32 eager) of each such image, recomputed on the same seeded weights."""
    reference = records["1 process, --workers 0"]["accuracy"]
    rows, differing_ids = [], set()
    for way, record in records.items():
        for recipe, acc in record["accuracy"].items():
            base = dict(zip(reference[recipe]["ids"], reference[recipe]["predictions"]))
            ids = [i for i, p in zip(acc["ids"], acc["predictions"]) if base[i] != p]
            differing_ids.update(ids)
            rows.append({"way": way, "recipe": recipe, "images": len(acc["ids"]), "top-1 differs on": len(ids),
                         "ids": ids})  # fmt: skip
    margins = _fp32_margins(sorted(differing_ids), data, class_map) if differing_ids else {}
    for row in rows:
        row["fp32 logit margins"] = ", ".join(f"{margins[i]:.3g}" for i in row.pop("ids")) or "-"
    return pd.DataFrame(rows)


def _fp32_margins(ids: list[str], data: str, class_map: str | None) -> dict[str, float]:
    import dataclasses

    import torch

    from swinprof.evaluate.imagefolder import iter_batches, scan_images
    from swinprof.models import create_model

    images = scan_images(data, class_map)
    chosen = [images.paths[images.ids.index(i)] for i in ids]
    part = dataclasses.replace(images, paths=chosen, labels=None)
    torch.manual_seed(0)  # the runs' seeded random init
    model = create_model("swin_t").eval()
    x = torch.cat([b for b, _ in iter_batches(part, build_transform(224), 16)])
    with torch.inference_mode():
        top2 = model(x).topk(2, dim=1).values
    return dict(zip(ids, (top2[:, 0] - top2[:, 1]).tolist()))


def end_to_end(data: str, limit: int, class_map: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One `swinprof run` per way of evaluating; the evaluation rates of each from its record, and the images on
    which any way's top-1 differs from the single-process run's."""
    common = ["run", *RECIPES, "--model", "swin_t", "--data", data, "--limit", str(limit), "--batch-sizes", "1",
              "--iters", "3", "--warmup", "1", "--eval-batch", "16", "--fidelity-samples", "16",
              "--no-process-memory", "--quiet", "--format", "json"]  # fmt: skip
    if class_map:
        common += ["--class-map", class_map]
    ways = {
        "1 process, --workers 0": [sys.executable, "-m", "swinprof", *common, "--workers", "0"],
        "1 process, default workers": [sys.executable, "-m", "swinprof", *common],
        "torchrun --nproc-per-node 2": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                        "--nproc-per-node", "2", "-m", "swinprof", *common],
    }  # fmt: skip
    ways["torchrun, 2 nodes of 1 process (c10d)"] = None
    rows, records = [], {}
    with tempfile.TemporaryDirectory() as work:
        for i, (way, argv) in enumerate(ways.items()):
            out = Path(work) / str(i)
            print(f"end to end: {way}", file=sys.stderr)
            start = time.perf_counter()
            if argv is None:
                _two_nodes(common, out)
            else:
                subprocess.run([*argv, "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
            record = records[way] = json.loads((out / "record.json").read_text())
            e = record["evaluation"]
            rows.append({"way": way, "images": e["images"], "data workers": e["workers"], "ranks": e["ranks"],
                         "evaluation wall s": e["wall_s"], "img/s (both models)": e["images_per_s"],
                         "models img/s": e["model_rate"], "data pipeline img/s": e["data_rate"],
                         "bound by": e["bound"], "whole run s": time.perf_counter() - start})  # fmt: skip
    return pd.DataFrame(rows), _differing(records, data, class_map)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--end-to-end-images", type=int, default=400)
    parser.add_argument("--class-map")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    env = environment("cpu")
    pipeline = pipeline_rates(args.data, args.repeats, args.batch)
    report = Report(f"Evaluation at scale on {env.get('cpu', 'this CPU')}", environment=env)
    report.settings = {"data": args.data, "images": int(pipeline["images"].iloc[0]), "batch": args.batch,
                       "preprocessing": " -> ".join(build_transform(224).describe())}  # fmt: skip
    report.add("pipeline", "Data pipeline alone (decode + preprocess, no model), interleaved", pipeline,
               "img/s = images / wall seconds of one pass over every image; worker counts interleaved per repeat")
    report.add("ratios", "Data pipeline: rate ratios within each repeat", _ratio_rows(pipeline))
    if not args.skip_end_to_end:
        rates, differing = end_to_end(args.data, args.end_to_end_images, args.class_map)
        report.add("end_to_end", "swinprof run fp32-eager openvino-int8 --model swin_t (random weights)", rates,
                   "rates from each run's record.json `evaluation`: img/s = images evaluated by both models per "
                   "second of the evaluation pass (rank 0's wall clock); whole run s includes start-up, prepare "
                   "(OpenVINO calibration) and latency timing; the ways ran one after another")  # fmt: skip
        report.add("same_answers", "Per-image top-1 of each way against the single-process run", differing,
                   "fp32 logit margin: top-1 minus top-2 logit of fp32 eager on a differing image (near-ties are "
                   "the only images where float summation order may flip the answer)")  # fmt: skip
    report.notes.append(f"1-minute load: {load_before} before, {load_average()} after")
    write_report(report, args.output, "report")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
