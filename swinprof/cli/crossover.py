"""`swinprof crossover MODEL --recipes A,B --batch 1,2,4,...`: where each recipe starts to beat the baseline."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit, err_console

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32)


def recipe_list(text: str) -> list:
    """Comma-separated recipe presets or files, each loaded and validated (an unknown one: one line, exit 2);
    `native` is kept as it is, for the candidates that run natively on the device (`expand_native`)."""
    from swinprof.optimize.candidates import NATIVE
    from swinprof.optimize.presets import get_recipe

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one recipe, e.g. --recipes int8-x86-cpu,compile-inductor")
    return [n if n == NATIVE else v._library(get_recipe, n) for n in dict.fromkeys(names)]


def expand_native(items: list, device: str | None) -> list:
    """`recipe_list`'s recipes with `native` replaced by the candidate set on `device` (default cpu), each once."""
    from swinprof.optimize.candidates import NATIVE, native_candidates

    recipes = {}
    for item in items:
        for r in native_candidates((device or "cpu").split(":")[0]).recipes if item == NATIVE else [item]:
            recipes.setdefault(r.name, r)
    return list(recipes.values())


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "crossover",
        help="map where each recipe starts to beat fp32 (CPU) / bf16 (GPU) eager over a batch ladder",
        description="Prepare each recipe once, then at every batch of the ladder time it interleaved with the "
        "baseline (fp32 eager on CPU, bf16 eager on CUDA): latency (median, p90), img/s, speedup with its 95% "
        "interval, and the crossover batch per recipe (the smallest batch from which it wins at every larger "
        "batch). Each point carries its roofline context (the Linear GEMMs' arithmetic intensity vs the ridge "
        "point). The ladder stops before a batch whose estimated memory exceeds what is available. Example: "
        "swinprof crossover swin_t --recipes compile-inductor,int8-x86-cpu --batch 1,2,4,8,16,32 -o out/xo",
    )
    p.add_argument("model", type=v.variant, help="variant name, e.g. swin_s")
    p.add_argument("--recipes", type=recipe_list, required=True, metavar="R1,R2",
                   help="comma-separated recipe presets or TOML files (see `swinprof recipes`); native: every "
                   "recipe offered for deployment that runs natively on this machine")  # fmt: skip
    p.add_argument("--batch", type=v.batch_sizes, default=DEFAULT_BATCHES, metavar="B1,B2",
                   help="images per forward, several: the batch ladder (default 1,2,4,8,16,32)")  # fmt: skip
    p.add_argument("--res", type=v.resolution, dest="img_size", help="input resolution (default: the variant's)")
    v.add_model_config(p)
    o.add_device(p, None, "the recipes' [target].device")
    p.add_argument("--warmup", type=v.non_negative_int, default=3, help="untimed calls per model and batch (3)")
    p.add_argument("--iters", type=v.int_at_least(2), default=20,
                   help="timed calls per model and batch (20; at least 4 for a 95%% interval)")  # fmt: skip
    o.add_seed(p)
    p.add_argument("--dynamic-batch", action="store_true",
                   help="compile one graph for every batch >= 2 (and one for batch 1) instead of one per batch: "
                   "far fewer compiles on a long ladder, kernels not specialised to each batch")  # fmt: skip
    o.add_output(p)
    p.add_argument("--title", help="report title")
    o.add_format(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.measure.environment import environment, load_average
    from swinprof.measure.resources import available_memory_bytes
    from swinprof.studies.crossover import check_iters
    from swinprof.studies.crossover_report import crossover_report
    from swinprof.studies.crossover_run import CrossoverOptions, check_crossover_recipes, run_crossover
    from swinprof.studies.recipe_run import RunOptions, resolve

    check_iters(args.iters)  # before any work: fewer calls cannot give the 95% interval the map prints
    recipes = expand_native(args.recipes, args.device)
    if args.dynamic_batch:
        recipes = [r.replace("compile", dynamic_batch=True) for r in recipes]
    resolved = resolve(recipes, RunOptions(model=args.model, img_size=args.img_size, device=args.device))
    check_crossover_recipes(resolved)
    m, device = resolved[0].model, resolved[0].target.device
    overrides = v.model_overrides(m.name, m.img_size, args.model_config)
    copies = len(resolved) + 2  # the fp32 model, the baseline's copy, each recipe's prepared copy

    def need(batch: int) -> int:
        return v.estimated_bytes(m.name, m.img_size, batch, attn=m.attn_impl, overrides=overrides, copies=copies)

    v.check_memory(m.name, m.img_size, min(args.batch), what="crossover", hint="use a smaller --batch or --res",
                   device=device, attn=m.attn_impl, overrides=overrides, copies=copies)  # fmt: skip
    opts = CrossoverOptions(tuple(args.batch), args.warmup, args.iters, args.seed, overrides, need,
                            available_memory_bytes(device))  # fmt: skip
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="swinprof-crossover-") as work:
        result = run_crossover(resolved, opts, Path(work), on_event=lambda s: err_console.print(f"[dim]… {s}[/dim]"))
    report = crossover_report(result, environment(device), load_before, args.title)
    batches = f"{min(args.batch)}-{max(args.batch)}"
    emit(report, args.format, args.output, f"crossover_{result.model}_{result.img_size}_b{batches}_{device}")
    return 0
