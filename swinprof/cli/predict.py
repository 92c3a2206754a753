"""`swinprof predict`: top-k ImageNet labels for images with a checkpoint."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "predict",
        help="classify images with a checkpoint (top-k ImageNet labels)",
        description="Preprocess images as the variant's checkpoint expects, run the model, print the top-k "
        "ImageNet classes with softmax probabilities. "
        "Example: swinprof predict swin_s cat.jpg --weights swin_small_patch4_window7_224.pth",
    )
    p.add_argument("model", type=v.variant, help="variant name, e.g. swin_s (see `swinprof models`)")
    p.add_argument("images", nargs="+", type=v.existing_file, help="image files (jpg, png, ...)")
    p.add_argument("--weights", required=True, type=v.existing_file,
                   help="checkpoint: official/timm/torchvision .pth or .safetensors")  # fmt: skip
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (default: the variant's)")
    p.add_argument("--topk", type=v.positive_int, default=5, help="classes to show per image (default 5)")
    o.add_batch(p, 16, ": memory stays bounded by it")
    o.add_device(p)
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.evaluate.predict import predict_images
    from swinprof.measure.device import resolve_device
    from swinprof.measure.environment import environment
    from swinprof.models import create_model, get_variant
    from swinprof.models.preprocess import build_transform, check_image
    from swinprof.report.document import Report

    variant = get_variant(args.model)
    device = resolve_device(args.device)
    res = args.res or variant.config.img_size
    for image in args.images:
        check_image(image)  # headers only: a bad image fails before the model is built
    v.check_memory(variant.name, res, min(args.batch, len(args.images)), what="predict", device=str(device))
    model = create_model(variant.name, img_size=res, weights=args.weights).to(device)
    transform = build_transform(variant, res)
    table = predict_images(model, args.images, transform, k=args.topk, batch_size=args.batch)
    report = Report(f"{variant.display_name} top-{args.topk}", environment=environment(device),
                    settings={"weights": args.weights, "preprocessing": "; ".join(transform.describe())})  # fmt: skip
    if table["probability"].isna().any():
        report.warnings.append("some probabilities are NaN: the model's logits are not finite for those images")
    report.add("predictions", f"top-{args.topk} classes per image (softmax probabilities)", table)
    emit(report, args.format, args.output, "predictions")
    return 0
