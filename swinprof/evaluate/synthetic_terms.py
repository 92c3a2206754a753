"""The vocabulary of the generated image sets (`evaluate.synthetic`), without its imports (Pillow, numpy): the
`make-images` parser reads it while `swinprof --help` is built."""

from __future__ import annotations

from swinprof.evaluate.labels import IMAGENET_CLASSES

LAYOUTS = ("synsets", "flat")
LABEL_FORMATS = {"csv": "LOC_val_solution.csv", "synset": "val_synsets.txt", "index": "val.txt"}
MAX_COUNT = 200_000  # 4x the validation set, ~25 GB: enough for any benchmark; more is a mistake
NUM_CLASSES = IMAGENET_CLASSES
