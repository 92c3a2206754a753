"""The vocabulary of a sensitivity ranking: what a group is scored by, how layers are grouped, how they are switched.

Kept apart from `studies.sensitivity` (which needs torch) so the command line can offer these choices without
importing torch: `swinprof --help` and a mistyped option answer at once.
"""

from __future__ import annotations

METRICS = ("sqnr", "top1-agreement", "accuracy")
GROUPS = ("layer", "block", "stage", "type")
MODES = ("only", "all-but")
COLUMN = {"sqnr": "sqnr_db", "top1-agreement": "top1_agree", "accuracy": "acc1"}  # metric -> score column
