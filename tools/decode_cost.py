"""Decode cost of a folder of JPEGs, per image on one thread: Pillow decode to RGB, and decode plus swin_t's
preprocessing (resize 248 bicubic, crop 224, normalize), as `swinprof run` does it. Compare a synthetic set
(`swinprof make-images`) with real validation images on the same quiet machine.

    python tools/decode_cost.py out/val2k/val [--limit 1000] [--rounds 2]

Prints the median and mean process CPU time per image of each step over the last round (earlier rounds warm the
page cache), the images' mean file size and how many were 500x375, and the load average it ran under.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder of images (searched recursively: *.JPEG, *.jpg)")
    parser.add_argument("--limit", type=int, default=1000, help="images to time (default 1000, sorted by path)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the images; the last is reported")
    args = parser.parse_args()

    import torch
    from PIL import Image

    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform, load_image

    torch.set_num_threads(1)
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg"))[: args.limit]
    if not paths:
        raise SystemExit(f"no JPEGs under {args.folder}")
    transform = build_transform(get_variant("swin_t"))
    for _ in range(args.rounds):
        decode, full, common = [], [], 0
        for path in paths:
            start = time.process_time()
            with Image.open(path) as image:
                common += image.size == (500, 375)
                image.convert("RGB").load()
            decode.append(time.process_time() - start)
            start = time.process_time()
            transform(load_image(path))
            full.append(time.process_time() - start)
    mean_kb = statistics.fmean(p.stat().st_size for p in paths) / 1000

    def ms(samples: list[float]) -> str:
        return f"median {statistics.median(samples) * 1e3:.2f} ms, mean {statistics.fmean(samples) * 1e3:.2f} ms"

    print(f"{len(paths)} images (mean {mean_kb:.1f} KB, {common} of 500x375), one thread, process CPU time per image:")
    print(f"  decode to RGB:                 {ms(decode)}")
    print(f"  decode + swin_t preprocessing: {ms(full)}")
    print(f"  load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
