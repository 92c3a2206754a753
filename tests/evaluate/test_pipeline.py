"""The streaming data pipeline: worker processes give the in-process tensors bit for bit, in order, bounded, and a
corrupt file found mid-run is one error naming it."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from swinprof.errors import DataPathError
from swinprof.evaluate.imagefolder import iter_batches, scan_images
from swinprof.evaluate.pipeline import PREFETCH, BatchedImages, PipelineClock, stream
from swinprof.models.preprocess import build_transform
from swinprof.ranks import default_workers


def write_photos(root, count: int = 10, size=(75, 50)):
    """`root/c<k>/<i>.jpg`: seeded noise photos in three class folders (class map `classes.txt` beside)."""
    g = torch.Generator().manual_seed(0)
    for i in range(count):
        folder = root / f"c{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i:03d}.jpg", quality=90)
    (root.parent / "classes.txt").write_text("c0 0\nc1 1\nc2 2\n")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = write_photos(tmp_path_factory.mktemp("pipeline") / "data")
    return scan_images(root, root.parent / "classes.txt")


def test_workers_give_the_in_process_tensors_bit_for_bit_and_in_order(photos):
    transform = build_transform(32)
    data = BatchedImages(photos, transform, 4)
    order = [2, 0, 1]  # a rank's shard need not be sorted: batches come in the order asked
    in_process = list(stream(data, order, workers=0))
    in_workers = list(stream(data, order, workers=2))
    assert [b.number for b in in_workers] == order == [b.number for b in in_process]
    for a, b in zip(in_process, in_workers):
        assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels) and a.positions == b.positions
    # and the calibration path (iter_batches, short last batch) decodes the same tensors
    reference = torch.cat([x for x, _ in iter_batches(photos, transform, 4)])
    assert torch.equal(torch.cat([b.x[: b.size] for b in sorted(in_workers, key=lambda b: b.number)]), reference)


def test_the_last_batch_is_padded_with_zero_images_to_one_shape(photos):
    data = BatchedImages(photos, build_transform(32), 4)  # 10 images: batches of 4, 4, 2 (+2 zero images)
    last = next(stream(data, [2], workers=0))
    assert last.x.shape == (4, 3, 32, 32) and last.size == 2 and last.positions == [8, 9]
    assert torch.count_nonzero(last.x[2:]) == 0 and last.labels.tolist() == photos.labels[8:10]
    short = next(stream(BatchedImages(photos, build_transform(32), 4, pad=False), [2], workers=0))
    assert short.x.shape[0] == 2


def test_the_clock_counts_every_image_and_the_time_spent_decoding(photos):
    clock = PipelineClock()
    data = BatchedImages(photos, build_transform(32), 3)
    assert sum(b.size for b in stream(data, range(len(data)), workers=1, clock=clock)) == len(photos) == clock.images
    assert clock.decode_s > 0 and clock.wait_s > 0


def test_a_corrupt_jpeg_found_in_a_worker_is_one_error_naming_the_file(tmp_path):
    root = write_photos(tmp_path / "data", count=9)
    victim = root / "c1" / "007.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # the header is whole (the scan accepts it); the pixels are not
    images = scan_images(root, tmp_path / "classes.txt")
    batches = stream(BatchedImages(images, build_transform(32), 2), range(5), workers=2)
    with pytest.raises(DataPathError, match=r"007\.jpg.*remove or replace the file") as caught:
        list(batches)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_default_workers_share_the_cores_between_the_processes_of_a_node():
    assert default_workers(1) >= 1 and default_workers(10_000) == 1
    assert PREFETCH >= 1
