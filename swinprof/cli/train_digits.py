"""`swinprof train-digits -o DIR`: write sklearn's digits as an ImageFolder and train a small Swin on it."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console
from swinprof.studies.train_settings import TrainSettings


def add_parser(sub) -> argparse.ArgumentParser:
    d = TrainSettings()
    p = sub.add_parser(
        "train-digits",
        help="make the trained test case: sklearn digits as an ImageFolder plus a small Swin trained on it",
        description="Write scikit-learn's bundled handwritten digits (1797 images, 10 classes) as an ImageFolder "
        "with a seeded, stratified 60/10/30 train/calib/test split at 32x32 into DIR, train a small Swin on the "
        "train split (AdamW, warmup + cosine, label smoothing, small random affines) and write the checkpoint "
        "DIR/<variant>.safetensors (for --weights) and a report with fp32 test top-1 and its interval. Offline; "
        "a few minutes on 2 cores. Needs pip install 'swinprof[trained]'. Example: swinprof train-digits -o "
        "out/digits && swinprof run fp32-eager int8-x86-cpu --model swin_digits --weights "
        "out/digits/swin_digits.safetensors --data out/digits/test --class-map out/digits/classes.txt",
    )
    o.add_output(p, "the data, checkpoint and report into this folder", required=True)
    p.add_argument("--variant", choices=["swin_digits", "swinv2_digits"], default="swin_digits",
                   help="which small Swin to train (default swin_digits, v1)")  # fmt: skip
    o.add_seed(p)  # also seeds the split and the training order
    p.add_argument("--epochs", type=v.positive_int, default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument(
        "--plant-outliers",
        type=v.finite_float(1, 1e4, open_low=True),
        metavar="FACTOR",
        help="after training, scale 2 channels per pre-norm LayerNorm by FACTOR and the next Linear's "
        "inputs by 1/FACTOR: same fp32 function, ViT-like activation outliers (harder to quantize)",
    )
    v.add_model_config(p)
    o.add_format(p)
    return p


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from swinprof.files import check_new_output_dir
    from swinprof.measure.environment import environment
    from swinprof.studies.trained import checkpoint_bytes, make_trained_case, trained_report

    check_new_output_dir(args.output, "a data set written over another would mix their splits (test images "
                         "trained on)")  # fmt: skip
    overrides = v.model_overrides(args.variant, None, args.model_config)
    settings = TrainSettings(epochs=args.epochs, seed=args.seed)
    # The data set is built aside and published with the checkpoint and the report as one unit: an interrupt or
    # an error leaves DIR as it was, never a data set without its model.
    with tempfile.TemporaryDirectory(prefix="swinprof-digits-") as build:
        case = make_trained_case(args.output, args.variant, settings, args.plant_outliers,
                                 say=lambda m: err_console.print(f"[dim]… {m}[/dim]"), build_in=build,
                                 **overrides)  # fmt: skip
        report = trained_report(case, environment("cpu"))
        data = {p.relative_to(build).as_posix(): p for p in sorted(Path(build).rglob("*")) if p.is_file()}
        weights = {f"{args.variant}.safetensors": checkpoint_bytes(case.training.model)}
        emit(report, args.format, args.output, f"train_{args.variant}", extra={**data, **weights})
    return 0
