"""Shared by `swinprof run` and `swinprof quantize`: common options, then run, and emit one Report."""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console, image_progress
from swinprof.files import check_output_dir
from swinprof.ranks import MAX_WORKERS, default_workers, join, leave

if TYPE_CHECKING:
    from swinprof.optimize.recipe import Recipe
    from swinprof.studies.recipe_run import RunOptions


def add_common(p: argparse.ArgumentParser, model_flag: bool = True) -> None:
    """The options `run` and `quantize` share (`quantize` names its model positionally: no --model)."""
    if model_flag:
        p.add_argument("--model", type=v.variant, help="variant name (overrides the recipe's [model].name)")
    p.add_argument("--res", type=v.resolution, dest="img_size", help="input resolution (multiple of 32)")
    p.add_argument("--weights", type=v.existing_file,
                   help="checkpoint (.pth / .safetensors); default random init (latency only)")  # fmt: skip
    v.add_model_config(p)
    p.add_argument("--data", type=v.existing_dir,
                   help="image folder: ImageFolder for accuracy, any folder for calibration/fidelity")  # fmt: skip
    p.add_argument("--calibration-data", type=v.existing_dir, metavar="FOLDER",
                   help="calibrate on this image folder instead of --data, so the images that measure accuracy "
                   "stay unseen (e.g. a calibration split)")  # fmt: skip
    p.add_argument("--class-map", type=v.existing_file,
                   help="folder name -> class index file (JSON or text) for non-synset folders")  # fmt: skip
    p.add_argument("--labels", type=v.existing_file, metavar="FILE",
                   help="labels of a flat --data folder (ImageNet's validation layout): the ImageId,PredictionString "
                   "CSV of the public solution file, or 'filename label' lines (synset or class index)")  # fmt: skip
    p.add_argument("--limit", type=v.positive_int, help="use at most N images (classes interleaved)")
    p.add_argument("--workers", type=v.non_negative_int, metavar="N",
                   help="data-loader processes decoding --data images per process (0: decode between forwards in "
                   "this process; default: this machine's cores shared by the processes on it, at most "
                   f"{MAX_WORKERS})")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue a run killed while evaluating --data into the same -o DIR (per-image results are "
                   "committed there as the run goes); refused when the arguments differ")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line or status lines")
    o.add_device(p, None, "the recipe's [target].device")
    p.add_argument("--batch-sizes", type=v.batch_sizes, help="benchmark batch sizes, e.g. 1,8")
    p.add_argument("--warmup", type=v.non_negative_int, help="untimed warmup calls per model")
    p.add_argument("--iters", type=v.positive_int, help="timed calls per model and batch size")
    p.add_argument("--eval-batch", type=v.positive_int, dest="eval_batch_size",
                   help="batch size for fidelity/accuracy")  # fmt: skip
    p.add_argument("--fidelity-samples", type=v.positive_int, help="inputs compared against fp32")
    o.add_seed(p)
    p.add_argument("--bench-lock", metavar="FILE", type=v.output_file,
                   help="flock FILE while timing (compiles run outside the lock)")  # fmt: skip
    p.add_argument(
        "--no-process-memory",
        dest="process_memory",
        action="store_false",
        help="skip the process peak (one fresh process per recipe and batch size: prepare + forward)",
    )
    o.add_output(p, "the report, run record, resolved recipes and artifacts into this folder")
    p.add_argument("--title", help="report title")
    o.add_format(p)


def _check_memory(resolved: tuple[Recipe, ...], overrides: dict) -> None:
    """The fp32 model and every recipe's prepared copy may be held at once, at the largest batch of any."""
    m = resolved[0].model
    batch = max(b for r in resolved for b in (*r.benchmark.batch_sizes, r.evaluate.batch_size))
    v.check_memory(m.name, m.img_size, batch, attn=m.attn_impl, copies=len(resolved) + 1, what="run",
                   hint="use smaller --batch-sizes / --eval-batch or --res", device=resolved[0].target.device,
                   overrides=overrides)  # fmt: skip


def options(args: argparse.Namespace) -> RunOptions:
    from swinprof.studies.recipe_run import RunOptions

    return RunOptions(
        model=args.model, img_size=args.img_size, weights=args.weights, data=args.data, class_map=args.class_map,
        limit=args.limit, calibration_data=args.calibration_data, device=args.device, batch_sizes=args.batch_sizes,
        warmup=args.warmup, iters=args.iters,
        eval_batch_size=args.eval_batch_size, fidelity_samples=args.fidelity_samples, seed=args.seed,
        bench_lock=args.bench_lock, process_memory=args.process_memory, labels=args.labels,
    )  # fmt: skip


def execute(recipes: list[Recipe], args: argparse.Namespace) -> int:
    """Resolve and check (before any work: recipes, folders, output), join the torchrun process group when
    launched by one and agree on the plan, run, then print the report and publish it with the record, the
    resolved recipes and the artifacts as one unit (rank 0). Exit code."""
    from swinprof.measure.environment import environment
    from swinprof.studies.recipe_evaluation import open_journal, plan_fingerprint
    from swinprof.studies.recipe_record import run_files, run_report
    from swinprof.studies.recipe_run import plan_run, run_plan

    plan = plan_run(recipes, options(args))
    resolved = plan.recipes
    output = Path(args.output) if args.output else None  # commands write only where asked (-o)
    if output is not None:
        check_output_dir(output)  # fail before the work, not after it; publishing creates the folder
    overrides = v.model_overrides(resolved[0].model.name, resolved[0].model.img_size, args.model_config)
    _check_memory(resolved, overrides)
    ranks = join(resolved[0].target.device)
    try:
        workers = args.workers if args.workers is not None else default_workers(ranks.local_world)
        opts = dataclasses.replace(plan.options, model_config=overrides, workers=workers)
        plan = dataclasses.replace(plan, options=opts)
        fingerprint = plan_fingerprint(plan)
        ranks.agree(fingerprint)
        journal = open_journal(plan, output, fingerprint, args.resume, ranks)
        say = (lambda m: err_console.print(f"[dim]… {m}[/dim]")) if ranks.main and not args.quiet else None
        with tempfile.TemporaryDirectory(prefix="swinprof-run-") as work:
            with image_progress("evaluating", args.quiet or not ranks.main) as progress:
                result = run_plan(plan, Path(work), on_event=say, ranks=ranks, journal=journal, on_progress=progress)
            if result is None:  # another rank than 0: its share is with rank 0
                return 0
            env = environment(resolved[0].target.device)
            question = getattr(args, "question", None)  # `run`: choose what to deploy (studies.deploy_choice)
            extra = run_files(result, env, question) if output is not None else None
            emit(run_report(result, env, args.title, question), args.format, output, "report", extra=extra)
        if journal is not None:
            journal.close()  # the report is published: nothing left to resume
    finally:
        leave(ranks)
    return 0
