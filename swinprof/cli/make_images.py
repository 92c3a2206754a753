"""`swinprof make-images -o DIR`: seeded ImageNet-like JPEGs, in synset folders or flat with a labels file."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console, image_progress
from swinprof.errors import InvalidOptionError
from swinprof.evaluate.synthetic_terms import LABEL_FORMATS, LAYOUTS, MAX_COUNT, NUM_CLASSES


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "make-images",
        help="write seeded ImageNet-like JPEGs (synset folders, or flat plus a labels file) for tests and benchmarks",
        description="Write COUNT seeded JPEGs shaped, compressed and sized like ImageNet's validation images "
        "(mostly 500x375 and its kin, quality 96, ~128 KB each on average) into DIR/val/: in synset folders "
        "(ImageFolder), or flat with a labels file beside it (LOC_val_solution.csv, or text lines), plus a record "
        "DIR/make_images.md|json. Their content decodes like a photo but is not meant to be classified. The "
        "folder appears whole or not at all; the same seed writes the same bytes (same Pillow). Roughly 15-20 ms "
        "of one core per image. Example: swinprof make-images -o out/val2k --count 2000 --layout flat && swinprof run "
        "fp32-eager --data out/val2k/val --labels out/val2k/LOC_val_solution.csv -o out/run",
    )
    o.add_output(p, "the images and the record into this new or empty folder", required=True)
    p.add_argument("--count", type=v.int_at_least(1, MAX_COUNT), default=1000,
                   help=f"images to write (default 1000, at most {MAX_COUNT:,}; ~128 KB each)")  # fmt: skip
    p.add_argument("--layout", choices=LAYOUTS, default="synsets",
                   help="synsets: DIR/val/<synset>/*.JPEG (default); flat: DIR/val/*.JPEG plus a labels file "
                   "in DIR")  # fmt: skip
    p.add_argument("--labels-format", choices=list(LABEL_FORMATS), default=None,
                   help="flat layout: csv (LOC_val_solution.csv: ImageId,PredictionString with boxes; default), "
                   "synset (val_synsets.txt: `file synset` lines) or index (val.txt: `file index` lines)")  # fmt: skip
    p.add_argument("--classes", type=v.int_at_least(1, NUM_CLASSES), default=NUM_CLASSES,
                   help="ImageNet classes to spread the images over, balanced (default all 1000)")  # fmt: skip
    o.add_seed(p)
    o.add_format(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no closing line on stderr")
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.evaluate.synthetic import write_image_set
    from swinprof.evaluate.synthetic_report import image_set_report

    if args.labels_format is not None and args.layout != "flat":
        raise InvalidOptionError("--labels-format goes with --layout flat: synset folders name the classes")
    labels_format = (args.labels_format or "csv") if args.layout == "flat" else None
    with image_progress("writing images", args.quiet) as progress:
        written = write_image_set(args.output, args.count, args.layout, labels_format, args.classes, args.seed,
                                  on_image=lambda n: progress(n, args.count))  # fmt: skip
    emit(image_set_report(written), args.format)
    if not args.quiet:
        labels = f" --labels {written.labels}" if written.labels is not None else ""
        size = sum(written.sizes) / 1e6
        err_console.print(f"wrote {len(written.sizes):,} images ({size:,.1f} MB) into {written.root}; read them "
                          f"with --data {written.images}{labels}", highlight=False)  # fmt: skip
    return 0
