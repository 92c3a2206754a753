"""The model-info row (the paper's table, with units named) and the preprocessing description."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
from torch import nn

from swinprof.models.preprocess import EvalTransform
from swinprof.profile.macs import CostTrace


@dataclass
class ModelInfo:
    """One row of the model-info table. MACs/FLOPs are for ONE image (FLOPs = 2 x MACs); input and params sizes
    in MB (1e6, as torchinfo prints them); the tensor peak in MiB (2**20, as every command prints it)."""

    name: str
    pretrain: str | None
    resolution: str
    window: int | None
    acc1: float | None
    acc5: float | None
    params: int
    gmacs: float
    gflops: float
    input_mb: float
    params_mb: float
    activations_mb: float
    tensor_peak_bytes: int = 0  # the same number, exact (a hidden column: json/csv only)

    def frame(self) -> pd.DataFrame:
        row = asdict(self)
        labels = {
            "acc1": "acc@1",
            "acc5": "acc@5",
            "gmacs": "GMACs (1 img)",
            "gflops": "GFLOPs (1 img)",
            "input_mb": "input (MB)",
            "params_mb": "params size (MB)",
            "activations_mb": "fwd tensor peak (MiB, batch)",
        }
        return pd.DataFrame([{labels.get(k, k): v for k, v in row.items()}])


def param_stats(model: nn.Module) -> tuple[int, int]:
    """(parameter count, parameter bytes); non-persistent buffers are not parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


def model_info(
    model: nn.Module,
    trace: CostTrace,
    batch: int,
    name: str,
    resolution: str,
    pretrain: str | None = None,
    window: int | None = None,
    acc1: float | None = None,
    acc5: float | None = None,
) -> ModelInfo:
    """Info row from a counting pass over a batch of `batch` images (MACs are reported per image).

    `activations_mb` / `tensor_peak_bytes`: the tensor peak of one forward of the whole batch (measure.memory).
    """
    count, nbytes = param_stats(model)
    macs = trace.total_macs / batch
    return ModelInfo(
        name, pretrain, resolution, window, acc1, acc5, count, macs / 1e9, 2 * macs / 1e9,
        trace.input_bytes / 1e6, nbytes / 1e6, trace.tensor_peak_bytes / 2**20, trace.tensor_peak_bytes,
    )  # fmt: skip


def preprocessing_table(transform: EvalTransform) -> pd.DataFrame:
    """The evaluation transform, step by step, as `transform` applies it (e.g. resize 248, crop 224)."""
    steps = [
        ("Resize", f"shorter side to {transform.resize_size} (bicubic), crop_pct={transform.crop_pct}"),
        ("CenterCrop", f"{transform.img_size}x{transform.img_size}"),
        ("ToTensor", "uint8 HWC [0, 255] -> float32 CHW [0, 1]"),
        ("Normalize", f"mean={transform.mean}, std={transform.std}"),
    ]
    return pd.DataFrame(steps, columns=["step", "parameters"])
