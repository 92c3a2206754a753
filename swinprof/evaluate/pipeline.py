"""The data pipeline of an evaluation: images decoded and preprocessed in worker processes, batches in order.

A batch is the unit of work everywhere: batch k holds images `[k * B, (k + 1) * B)` of the ImageSet, the last one
padded with zero images to the full size B, so a compiled static-shape model never sees a second shape and every
image sees the same batch company whatever process, rank or resume decodes it. A data-loader worker decodes a
whole batch (`torch.utils.data.DataLoader` with `batch_size=None` over batch numbers): `workers` batches are in
flight at once, each worker keeps at most `PREFETCH` ready, so memory is bounded by `workers * PREFETCH` batches,
not by the data set. With `workers=0` everything runs in this process (no worker processes). On CUDA the batches
come in pinned memory and are copied with `non_blocking=True`.

The preprocessing is the same function in either case (`models.preprocess.EvalTransform`), so the tensors are
bit for bit those of the in-process path. A file that fails to decode (a corrupt JPEG whose header was fine) is
one DataPathError naming it, raised in this process when its batch comes up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from swinprof.errors import DataPathError, SwinprofError
from swinprof.evaluate.imagefolder import ImageSet

PREFETCH = 2  # batches each worker keeps ready (DataLoader's prefetch_factor)


@dataclass
class Batch:
    """Batch `number`: `x` `(batch_size, 3, H, W)` (the last batch zero-padded), `labels` `(n,)` or None, the
    ImageSet positions of its `n` real images, and the seconds spent decoding and preprocessing them."""

    number: int
    x: torch.Tensor
    labels: torch.Tensor | None
    positions: list[int]
    decode_s: float

    @property
    def size(self) -> int:
        """Real images in the batch (the rest of `x` is padding)."""
        return len(self.positions)


class BatchedImages(torch.utils.data.Dataset):
    """Map-style data set whose item k is batch k of `images`, decoded and transformed (see the module doc);
    `pad=False` leaves the last batch short (calibration must not see padding images).

    A decoding failure is returned, not raised, as `{"error": message}`: raised in a worker it would reach this
    process as a traceback wrapped in the loader's text, and the user needs the file's name in one line."""

    def __init__(self, images: ImageSet, transform: Callable, batch_size: int, count: int | None = None,
                 pad: bool = True) -> None:  # fmt: skip
        self.images, self.transform, self.batch_size, self.pad = images, transform, batch_size, pad
        self.count = len(images) if count is None else min(count, len(images))

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def positions(self, number: int) -> range:
        start = number * self.batch_size
        return range(start, min(start + self.batch_size, self.count))

    def __getitem__(self, number: int) -> dict:
        from swinprof.models.preprocess import load_image

        start = time.perf_counter()
        positions = self.positions(number)
        try:
            rows = [self.transform(load_image(self.images.paths[i])) for i in positions]
        except SwinprofError as exc:
            return {"number": number, "error": str(exc)}
        x = torch.stack(rows)
        if self.pad and len(rows) < self.batch_size:  # the last batch: the same shape as every other
            x = torch.cat([x, x.new_zeros(self.batch_size - len(rows), *x.shape[1:])])
        labels = torch.tensor([self.images.labels[i] for i in positions]) if self.images.labeled else None
        return {"number": number, "x": x, "labels": labels, "positions": list(positions),
                "decode_s": time.perf_counter() - start}  # fmt: skip


@dataclass
class PipelineClock:
    """Where this process's time went while streaming: decoding (in workers or here) and waiting for a batch."""

    images: int = 0
    decode_s: float = 0.0  # sum over batches of the time their decoding took, in whichever process decoded them
    wait_s: float = 0.0  # time this process spent blocked on the next batch


def stream(
    data: BatchedImages,
    numbers: Sequence[int],
    workers: int,
    device: torch.device | str = "cpu",
    clock: PipelineClock | None = None,
) -> Iterator[Batch]:
    """Batches `numbers` of `data`, in that order, decoded by `workers` processes (0: in this one) and moved to
    `device`. `clock` accumulates decode and wait time."""
    device = torch.device(device)
    clock = clock if clock is not None else PipelineClock()
    if not numbers:
        return
    loader = torch.utils.data.DataLoader(
        data, batch_size=None, sampler=list(numbers), num_workers=workers,
        prefetch_factor=PREFETCH if workers else None, pin_memory=device.type == "cuda",
        persistent_workers=False,
    )  # fmt: skip
    items = iter(loader)
    try:
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            clock.wait_s += time.perf_counter() - start
            if "error" in item:
                raise DataPathError(f"{item['error']}: remove or replace the file (found in batch {item['number']})")
            clock.images += len(item["positions"])
            clock.decode_s += item["decode_s"]
            x = item["x"].to(device, non_blocking=True)
            labels = item["labels"]
            yield Batch(item["number"], x, labels, item["positions"], item["decode_s"])
    finally:
        del items  # shuts the workers down now, also when the consumer stops early or raises
