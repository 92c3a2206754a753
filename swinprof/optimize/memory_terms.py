"""The vocabulary of the memory options: what one measured step is. Kept apart from `optimize.memory_options`
(which needs torch) so the command line offers the choices without importing torch."""

from __future__ import annotations

MODES = ("train", "infer")  # a training step (forward, backward, AdamW step), or one forward under inference_mode
