"""The trained case end to end: write the digits ImageFolder, train a variant on it, evaluate, report.

`make_trained_case` returns everything as data (`TrainedCase`): the model, the data set's split, fp32 test top-1
and top-5 with their Wilson intervals, the LayerNorm outlier ratios on the test images, and a Report. The CLI
(`swinprof train-digits`) builds the data set in a temporary folder (`build_in`) and publishes it with the report
and the checkpoint (`<variant>.safetensors`, loadable with `--weights`) as one unit, so an interrupted or failed
run leaves no data set without its model.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from swinprof.evaluate.significance import Rate
from swinprof.report.document import Report
from swinprof.studies.digits import CLASS_MAP, DigitsSplit, write_digits
from swinprof.studies.outliers import ChannelOutliers, layernorm_outliers, outlier_frame, plant_outlier_channels
from swinprof.studies.train import Training, TrainSettings, load_tensors, predictions, train

DIGITS_VARIANTS = ("swin_digits", "swinv2_digits")


@dataclass
class TrainedCase:
    variant: str
    data_root: Path
    split: DigitsSplit
    training: Training
    top1: Rate
    top5: Rate
    outliers: list[ChannelOutliers]
    planted: list[str]
    overrides: dict

    @property
    def max_outlier_ratio(self) -> float:
        return max(o.ratio for o in self.outliers)


def test_set(root: Path, variant: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split through the variant's evaluation transform: `(N, 3, 32, 32)`, labels `(N,)`."""
    from swinprof.evaluate.imagefolder import scan_images
    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform

    return load_tensors(scan_images(root / "test", root / CLASS_MAP), build_transform(get_variant(variant)))


def make_trained_case(
    root: str | Path,
    variant: str = "swin_digits",
    settings: TrainSettings | None = None,
    plant_factor: float | None = None,
    say: Callable[[str], None] | None = None,
    build_in: str | Path | None = None,
    **overrides,
) -> TrainedCase:
    """Write the data (split seeded by `settings.seed`), train `variant` (with config `overrides`), evaluate on the
    test split; `plant_factor` then plants outlier channels (same fp32 function). The data is written into
    `build_in` when given (a folder the caller publishes as `root` afterwards; the case names `root`), else
    into `root`."""
    from swinprof.evaluate.imagefolder import scan_images
    from swinprof.models import create_model, get_variant
    from swinprof.models.preprocess import build_transform

    say = say or (lambda _m: None)
    settings = settings or TrainSettings()
    root = Path(root)
    data = Path(build_in) if build_in is not None else root
    split = write_digits(data, settings.seed)
    say(f"wrote {sum(split.counts().values())} images ({split.counts()})" + ("" if build_in else f" into {root}"))
    transform = build_transform(get_variant(variant))
    x, y = load_tensors(scan_images(data / "train", data / CLASS_MAP), transform)
    training = train(lambda: create_model(variant, **overrides), x, y, settings,
                     on_epoch=lambda e, loss: say(f"epoch {e}/{settings.epochs}: train loss {loss:.3f}"))  # fmt: skip
    planted = plant_outlier_channels(training.model, plant_factor) if plant_factor else []
    xt, yt = test_set(data, variant)
    top = predictions(training.model, xt)
    top1 = Rate(int((top[:, 0] == yt).sum()), len(yt))
    top5 = Rate(int((top == yt[:, None]).any(1).sum()), len(yt))
    outliers = layernorm_outliers(training.model, xt)
    return TrainedCase(variant, root, split, training, top1, top5, outliers, planted, overrides)


def trained_report(case: TrainedCase, env: dict) -> Report:
    s = case.training.settings
    report = Report(f"swinprof train-digits: {case.variant} on sklearn digits", environment=env, settings={
        "variant": case.variant, "config overrides": case.overrides or "none", "seed": s.seed, "epochs": s.epochs,
        "batch size": s.batch_size, "optimizer": f"AdamW lr {s.lr:g}, weight decay {s.weight_decay:g}",
        "schedule": f"linear warmup {s.warmup_epochs:g} epoch(s), cosine to 0", "label smoothing": s.label_smoothing,
        "augmentation": f"random affine: rotate +-{s.max_rotate_deg:g} deg, scale +-{s.max_scale:g}, shift "
                        f"+-{s.max_shift_px:g} px; no flips",
        "data": f"{case.data_root} (split {case.split.counts()}, stratified, seed {case.split.seed})",
        "training threads": s.threads, "machine": platform.machine(),
    })  # fmt: skip
    rows = [{"metric": "test top-1 %", "value": case.top1.percent, "95% interval (Wilson)": str(case.top1),
             "images": case.top1.n},
            {"metric": "test top-5 %", "value": case.top5.percent, "95% interval (Wilson)": str(case.top5),
             "images": case.top5.n},
            {"metric": "training wall time s", "value": case.training.seconds, "95% interval (Wilson)": "-",
             "images": sum(case.split.counts().values()) - case.top1.n - case.split.counts()["calib"]}]  # fmt: skip
    report.add("accuracy", "fp32 accuracy on the held-out test split", pd.DataFrame(rows),
               "top-k over the test split's images, fp32 eager; interval: Wilson score, 95%; training time: "
               "perf_counter around the training loop (data loading excluded)")  # fmt: skip
    loss = pd.DataFrame({"epoch": range(1, len(case.training.epoch_loss) + 1), "train loss": case.training.epoch_loss})
    report.add("loss", "Training loss per epoch", loss, "mean label-smoothed cross-entropy over the epoch's batches")
    report.add("outliers", "LayerNorm output outliers on the test images", outlier_frame(case.outliers),
               "per channel: max |x| over every token of every test image; ratio = largest channel / median "
               "channel; trained ViTs show tens of x at some LayerNorms")  # fmt: skip
    ratio = case.max_outlier_ratio
    if case.planted:
        report.notes.append(f"outlier channels PLANTED at {len(case.planted)} LayerNorms (same fp32 function)")
    elif ratio < 10:
        report.notes.append(f"largest outlier ratio {ratio:.1f}x: no ViT-like outliers (tens of x); "
                            "--plant-outliers FACTOR makes the case harder (docs/trained-network.md)")  # fmt: skip
    return report


def checkpoint_bytes(model: torch.nn.Module) -> bytes:
    """The model's persistent state as safetensors bytes (what `--weights` loads)."""
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})
