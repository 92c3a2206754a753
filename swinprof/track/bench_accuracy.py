"""Top-1 accuracy of every case of a suite on labeled images, for `swinprof bench --data`: the producer of the
per-case `accuracy` that `swinprof regress --acc-threshold` reads (`track.accuracy_drop`).

Each case's model is built exactly as the timed one (`bench_rounds.case_forward`, `recipe_case.recipe_case_forward`:
the suite's seed, the same checkpoint, the recipe's seeded calibration) and evaluated once over the images, not
timed, with the evaluation function `run` uses (`evaluate.imagefolder.accuracy_of`, the variant's preprocessing at
the case's resolution). Cases that share a preprocessing are evaluated together, so each image is decoded once per
preprocessing, not once per case. The record per case:
`{"images", "top1", "correct": [0/1 per image], "ids": [path relative to the data root, same order], "top5_percent",
"data", "weights", "weights_sha256"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from swinprof.evaluate.imagefolder import ImageSet, accuracy_of
from swinprof.files import file_sha256
from swinprof.measure.device import resolve_device, resolve_dtype
from swinprof.track.suite import Case, Suite

EVAL_BATCH = 16


def describe_images(images: ImageSet) -> str:
    """What the images were, without the machine's path (results from two machines describe the same set alike)."""
    return f"{images.root.name}: {len(images)} images ({images.layout})"


def _forward(case: Case, device: torch.device, seed: int,
             weights: str | None) -> Callable[[torch.Tensor], torch.Tensor]:  # fmt: skip
    """The case's model as the timed one is built, taking the transform's fp32 CPU batch."""
    from swinprof.track.bench_rounds import case_forward
    from swinprof.track.recipe_case import is_recipe_case, recipe_case_forward

    if is_recipe_case(case.recipe):
        fn, _ = recipe_case_forward(case, device, seed, weights)
        dtype = torch.float32
    else:
        fn, dtype = case_forward(case, device, seed, weights), resolve_dtype(case.dtype)
    return lambda x: fn(x.to(device=device, dtype=dtype))


def _groups(cases: tuple[Case, ...]) -> dict[tuple[str, int], list[Case]]:
    """Cases by preprocessing (variant, resolution): one pass over the images per group."""
    out: dict[tuple[str, int], list[Case]] = {}
    for c in cases:
        out.setdefault((c.model, c.res), []).append(c)
    return out


def suite_accuracy(suite: Suite, images: ImageSet, weights: str | None, batch_size: int = EVAL_BATCH,
                   on_event: Callable[[str], None] | None = None) -> dict[str, dict]:  # fmt: skip
    """case id -> its `accuracy` record (see the module docstring) over `images` (labeled)."""
    from swinprof.models import get_variant
    from swinprof.models.preprocess import build_transform

    say = on_event or (lambda _m: None)
    device = resolve_device(suite.device)
    provenance = {"data": describe_images(images)}
    if weights is not None:
        provenance |= {"weights": Path(weights).name, "weights_sha256": file_sha256(weights)}
    out: dict[str, dict] = {}
    for (model, res), cases in _groups(suite.cases).items():
        say(f"top-1 of {len(cases)} case(s) of {model} at {res}x{res} over {len(images)} images (not timed)")
        fns = {c.id: _forward(c, device, suite.seed, weights) for c in cases}
        with torch.inference_mode():
            found = accuracy_of(fns, images, build_transform(get_variant(model), res), batch_size)
        for case_id, a in found.items():
            correct = [int(p == y) for p, y in zip(a.predictions, a.labels)]
            out[case_id] = {"images": a.samples, "top1": sum(correct), "correct": correct, "ids": list(a.ids),
                            "top5_percent": a.acc5, **provenance}  # fmt: skip
        del fns
    return out


def attach_accuracy(results, accuracy: dict[str, dict]) -> None:
    """Put each case's accuracy record into its results case (`results.cases[i].spec["accuracy"]`)."""
    for case in results.cases:
        if case.id in accuracy:
            case.spec["accuracy"] = accuracy[case.id]
