"""One pass of several models over an image set: streamed, sharded over ranks, committed in chunks, resumable.

Each image is decoded once for all models (`evaluate.pipeline`). What is kept per image and model is what the
statistics need, so memory does not grow with logits of 50,000 images: the top-k classes (k = min(5, classes)),
from which top-1 / top-5 correctness follow, and the logits of the first `keep_logits` images only (the fidelity
subset). Ranks take whole batches (`Ranks.shard` over the batches still to do) and send their results to rank 0
after every `CHUNK_BATCHES` of their own batches, keyed by batch number; rank 0 commits each round to the
journal when there is one (`evaluate.journal`), so a killed run resumes where it stopped, with any world size.
Rank 0 ends with the whole `Evaluation`; the other ranks get None.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from swinprof.evaluate.imagefolder import Accuracy, ImageSet
from swinprof.evaluate.journal import Journal
from swinprof.evaluate.pipeline import BatchedImages, PipelineClock, stream
from swinprof.ranks import SINGLE, Ranks

CHUNK_BATCHES = 8  # a rank's batches between two gathers (and journal commits): ~1-2 minutes of a CPU run
TOP_K = 5

Progress = Callable[[int, int], None]  # (images done, images in all), on rank 0


@dataclass
class EvaluationRates:
    """Where the pass's time went, summed over ranks: `model_s` in the models' forwards (all models),
    `decode_s` decoding and preprocessing (in workers, or in the evaluating process with 0 workers), `wait_s`
    the evaluating processes blocked on the next batch; `wall_s` on rank 0 from first to last batch."""

    images: int
    ranks: int
    workers: int
    wall_s: float
    model_s: float
    decode_s: float
    wait_s: float
    resumed: int = 0  # images read back from the journal rather than evaluated

    @property
    def images_per_s(self) -> float:
        """The pass's rate: images evaluated by all models per second of wall time."""
        return self.images / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def model_rate(self) -> float:
        """Images per second the models alone would sustain, all ranks together (all models per image)."""
        return self.images / self.model_s * self.ranks if self.model_s > 0 else float("inf")

    @property
    def data_rate(self) -> float:
        """Images per second the data pipeline can supply, all ranks together: each decoding process's rate
        (images over its decode time), times the processes that decode in parallel."""
        decoders = self.ranks * max(1, self.workers)
        return self.images / self.decode_s * decoders if self.decode_s > 0 else float("inf")

    @property
    def bound(self) -> str:
        """Which side limits the pass: the models, or the data pipeline (the evaluating processes waited for
        data more than a tenth of the wall time, or decode in-process)."""
        if self.images == 0:
            return "nothing evaluated"
        if self.workers == 0:
            return "models + data pipeline in series (--workers 0: decoding runs between forwards)"
        waited = self.wait_s / self.ranks
        return "data pipeline" if waited > 0.1 * self.wall_s else "models"


@dataclass
class Evaluation:
    """Rank 0's result: per model, `top` `(N, k)` classes of every image in ImageSet order, `logits`
    `(min(N, keep_logits), classes)` of the first images; `images` is the evaluated ImageSet (first N)."""

    images: ImageSet
    top: dict[str, torch.Tensor]
    logits: dict[str, torch.Tensor]
    rates: EvaluationRates

    @property
    def count(self) -> int:
        return len(self.images)

    def accuracy(self) -> dict[str, Accuracy]:
        """Top-1 / top-5 of every model with per-image predictions, labels and ids (labeled images only)."""
        labels = torch.tensor(self.images.labels)
        out = {}
        for name, top in self.top.items():
            hits = top == labels[:, None]
            out[name] = Accuracy(self.count, 100 * hits[:, 0].float().mean().item(),
                                 100 * hits.any(dim=1).float().mean().item(), tuple(top[:, 0].tolist()),
                                 tuple(self.images.labels), tuple(self.images.ids))  # fmt: skip
        return out


def _forward(models: dict[str, Callable], x: torch.Tensor, n: int, first: int, keep: int) -> dict:
    """Every model on one batch `x` `(B, 3, H, W)` whose `n` real images start at ImageSet position `first`:
    top-k of the real rows, logits of those inside the first `keep` images."""
    top, logits = {}, {}
    for name, fn in models.items():
        out = fn(x)[:n].float().cpu()
        top[name] = out.topk(min(TOP_K, out.shape[1]), dim=1).indices.to(torch.int32)
        logits[name] = out[: max(0, min(n, keep - first))].clone()
    return {"top": top, "logits": logits}


def evaluate(
    models: dict[str, Callable],
    images: ImageSet,
    transform: Callable,
    batch_size: int,
    *,
    count: int | None = None,
    keep_logits: int = 0,
    workers: int = 0,
    device: torch.device | str = "cpu",
    ranks: Ranks = SINGLE,
    journal: Journal | None = None,
    on_progress: Progress | None = None,
) -> Evaluation | None:
    """Every model over the first `count` images (all by default), `batch_size` per forward (see the module
    docstring). Call on every rank with the same arguments; rank 0 returns the Evaluation, the others None."""
    data = BatchedImages(images, transform, batch_size, count)
    done = journal.done() if journal is not None and ranks.main else {}
    todo = ranks.broadcast(sorted(set(range(len(data))) - done.keys()))
    mine = [todo[i] for i in ranks.shard(len(todo))]
    longest_shard = math.ceil(len(todo) / ranks.world)
    rounds = math.ceil(longest_shard / CHUNK_BATCHES)  # the same on every rank, also on one with a shorter shard
    clock, model_s, results = PipelineClock(), 0.0, dict(done)
    resumed = finished = sum(len(data.positions(k)) for k in done)  # images with results on rank 0
    start = time.perf_counter()
    batches = stream(data, mine, workers, device, clock)
    with torch.inference_mode(), contextlib.closing(batches):
        for r in range(rounds):
            round_results = {}
            for _ in mine[r * CHUNK_BATCHES : (r + 1) * CHUNK_BATCHES]:
                batch = next(batches)
                tick = time.perf_counter()
                round_results[batch.number] = _forward(models, batch.x, batch.size, batch.positions[0], keep_logits)
                model_s += time.perf_counter() - tick
                if on_progress is not None and ranks.main:  # between gathers: this rank's share, times the ranks
                    on_progress(min(data.count, finished + len(round_results) * batch_size * ranks.world), data.count)
            gathered = ranks.gather(round_results)
            if ranks.main:
                if journal is not None:
                    journal.commit(gathered)
                results.update(gathered)
                finished += sum(len(data.positions(k)) for k in gathered)
                if on_progress is not None:
                    on_progress(finished, data.count)
    wall_s = time.perf_counter() - start
    spent = ranks.gather({ranks.rank: (model_s, clock.decode_s, clock.wait_s)})
    if not ranks.main:
        return None
    totals = [sum(t[i] for t in spent.values()) for i in range(3)]
    rates = EvaluationRates(data.count - resumed, ranks.world, workers, wall_s, *totals, resumed=resumed)
    return _assemble(data, results, rates)


def _assemble(data: BatchedImages, results: dict[int, dict], rates: EvaluationRates) -> Evaluation:
    """Concatenate the per-batch results in batch order into one Evaluation."""
    order = sorted(results)
    if order != list(range(len(data))):
        missing = sorted(set(range(len(data))) - set(order))
        raise RuntimeError(f"batches {missing[:5]} were never evaluated")  # a bug in the sharding, not bad input
    names = list(results[order[0]]["top"]) if order else []
    top = {m: torch.cat([results[k]["top"][m] for k in order]) for m in names}
    logits = {m: torch.cat([results[k]["logits"][m] for k in order]) for m in names}
    labels = data.images.labels[: data.count] if data.images.labeled else None
    evaluated = dataclasses.replace(data.images, paths=data.images.paths[: data.count], labels=labels)
    return Evaluation(evaluated, top, logits, rates)
