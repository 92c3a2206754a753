"""The bounds of the explicit-Q/DQ export and its checks, as numbers the command line shows. Kept apart from
`optimize.qdq_onnx` and `optimize.qdq_localize` (which need torch and onnx) so the parser imports neither."""

from __future__ import annotations

# The most calibration images a command reads (checked before any work): ModelOpt's and TensorRT's guidance is a
# few hundred to a thousand; past this the ranges stop moving and the calibration only costs time.
MAX_CALIBRATION_IMAGES = 10_000
DEFAULT_THRESHOLD_DB = 20.0  # `check-onnx --against`: the first tensor below this SQNR vs fp32 is named
