"""The evaluation step of a recipe run, at any scale: data scanned before any work, the plan every rank (and a
resumed run) must share, one streaming pass of every model over the images, and fidelity and accuracy from it.

- `scan_data`: the `--data` images (ImageFolder, class map or flat folder with a labels file) and the
  `--calibration-data` images, only as many of the latter as calibration will read, before any model is built.
- `plan_fingerprint`: the run's arguments (resolved recipes, options), the weights' and data listing's digests
  and the versions that decide the numbers. `Ranks.agree` holds every torchrun rank to it; the resume journal
  holds a resumed run to it (`open_journal`).
- `evaluate_run`: every model over the images in one pass (`evaluate.evaluation`), sharded over ranks, with the
  fidelity subset's logits kept; fidelity against fp32 eager on those images (or on seeded random inputs without
  `--data`), accuracy over all labeled images. Rank 0 gets the result, the others None.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from swinprof.errors import DataPathError, SwinprofError, UsageError
from swinprof.evaluate.evaluation import EvaluationRates, Progress, evaluate
from swinprof.evaluate.fidelity import Fidelity, batched_logits, compare_logits
from swinprof.evaluate.imagefolder import Accuracy, ImageSet, scan_images, scan_unlabeled
from swinprof.evaluate.journal import Journal
from swinprof.files import file_sha256
from swinprof.optimize.recipe import Recipe, to_dict
from swinprof.ranks import SINGLE, Ranks

# Options that change nothing a run computes, only how fast or where: a rank or a resumed run may differ in them.
NOT_IN_PLAN = ("workers", "bench_lock")
# Paths whose content, not name, is the plan (the same weights may sit in another folder on another node).
BY_CONTENT = ("weights", "data", "labels", "class_map", "calibration_data")


def calibration_count(recipes: tuple[Recipe, ...] | list[Recipe]) -> int:
    """How many images calibration reads at most (0: no recipe calibrates on images)."""
    return max((r.quantize.calibration.count for r in recipes
                if r.method.calibrated and r.quantize.calibration.source in ("auto", "data")), default=0)  # fmt: skip


def scan_data(recipes, opts) -> tuple[ImageSet | None, ImageSet | None, list[str]]:
    """`(images, calibration images, warnings)` for a run: every folder checked (headers read) now, before any
    model is built; of `--calibration-data` only the images calibration will read."""
    if not opts.data:
        for flag, value in (("--class-map", opts.class_map), ("--labels", opts.labels)):
            if value:
                raise DataPathError(f"{flag} needs --data FOLDER")
    images = scan_images(opts.data, opts.class_map, recipes[0].evaluate.limit, labels=opts.labels) \
        if opts.data else None  # fmt: skip
    calibration, warnings = None, []
    if opts.calibration_data:
        needed = calibration_count(recipes)
        if needed:
            calibration = scan_unlabeled(opts.calibration_data, limit=needed)
        else:
            warnings.append(f"--calibration-data {opts.calibration_data} was not read: no recipe of this run "
                            "calibrates on images")  # fmt: skip
    return images, calibration, warnings


def file_digest(path: str | None) -> str | None:
    """sha256 of a file's bytes (None for no file)."""
    return None if path is None else file_sha256(path)


def listing_digest(images: ImageSet | None) -> str | None:
    """A digest of what an image set is: each image's id and label (not its pixels: reading 6 GB to agree on a
    plan would cost more than the run's first minutes)."""
    if images is None:
        return None
    labels = images.labels if images.labeled else [None] * len(images)
    text = "\n".join(f"{i}\t{y}" for i, y in zip(images.ids, labels))
    return f"{len(images)} images, {images.layout}, sha256 {hashlib.sha256(text.encode()).hexdigest()}"


def plan_fingerprint(plan) -> dict:
    """What a run is (see the module docstring), as JSON-able values."""
    options = {k: v for k, v in dataclasses.asdict(plan.options).items() if k not in NOT_IN_PLAN + BY_CONTENT}
    versions = {name: _version(name) for name in ("swinprof", "torch")}
    return {
        "recipes": {r.name: to_dict(r) for r in plan.recipes},
        "options": options,
        "weights": file_digest(plan.options.weights),
        "data": listing_digest(plan.images),
        "calibration data": listing_digest(plan.calibration_images),
        "versions": versions,
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def open_journal(plan, output: str | Path | None, fingerprint: dict, resume: bool,
                 ranks: Ranks = SINGLE) -> Journal | None:  # fmt: skip
    """Rank 0 opens the resume journal of a run that evaluates `--data` into `output` (none without either); a
    refusal (a journal found without --resume, a resume with other arguments) stops every rank with one line."""
    if output is None and resume:
        raise UsageError("--resume continues a run that wrote into -o DIR: give the same -o DIR")
    if output is None or plan.images is None:
        return None
    journal, refusal = None, None
    if ranks.main:
        try:
            journal = Journal.open(output, fingerprint, resume)
        except SwinprofError as exc:
            refusal = str(exc)
    refusal = ranks.broadcast(refusal)
    if refusal:
        raise UsageError(refusal)
    return journal


@dataclass
class EvaluationRun:
    """Rank 0's view: fidelity per model, accuracy (labeled images) and the pass's rates (None without data)."""

    fidelity: dict[str, Fidelity]
    source: str  # what the fidelity inputs were, in words
    samples: int
    accuracy: dict[str, Accuracy] | None
    rates: EvaluationRates | None


def evaluate_run(
    plan, fns: dict[str, Callable], baseline: str, transform, shape, device, *, workers: int,
    ranks: Ranks = SINGLE, journal: Journal | None = None, on_progress: Progress | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> EvaluationRun | None:  # fmt: skip
    """Fidelity of every model against `fns[baseline]`, and accuracy over labeled images (see the module
    docstring). Call on every rank; rank 0 returns the result, the others None."""
    images, opts, lead = plan.images, plan.options, plan.lead
    n_fid = max(r.evaluate.fidelity_samples for r in plan.recipes)
    batch = lead.evaluate.batch_size
    if images is None:
        if not ranks.main:
            return None
        g = torch.Generator().manual_seed(opts.seed)
        x = torch.randn(n_fid, *shape, generator=g).to(device)
        say(f"fidelity vs fp32 on {n_fid} seeded random inputs (seed {opts.seed})")
        ref = batched_logits(fns[baseline], x, batch)
        fidelity = {name: compare_logits(ref, batched_logits(fn, x, batch)) for name, fn in fns.items()}
        return EvaluationRun(fidelity, f"seeded random N(0,1) inputs (seed {opts.seed})", n_fid, None, None)
    count = None if images.labeled else n_fid  # unlabeled images serve fidelity only
    what = f"accuracy on {len(images)} labeled images ({images.layout})" if images.labeled else "fidelity"
    say(f"{what}, fidelity on the first {min(n_fid, len(images))}: {ranks.describe()}, {workers} data workers"
        + (f" each, {batch} images per forward" if ranks.distributed else f", {batch} images per forward"))
    done = evaluate(fns, images, transform, batch, count=count, keep_logits=n_fid, workers=workers, device=device,
                    ranks=ranks, journal=journal, on_progress=on_progress)  # fmt: skip
    if done is None:
        return None
    ref = done.logits[baseline]
    fidelity = {name: compare_logits(ref, logits) for name, logits in done.logits.items()}
    source = f"the first {ref.shape[0]} images from {opts.data}"
    accuracy = done.accuracy() if images.labeled else None
    return EvaluationRun(fidelity, source, int(ref.shape[0]), accuracy, done.rates)

