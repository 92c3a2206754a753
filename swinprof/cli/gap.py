"""`swinprof gap`: where OpenVINO's fp32 time goes against swinprof's PyTorch path (profiled, by category)."""

from __future__ import annotations

import argparse

from swinprof.cli import _options as o
from swinprof.cli import _validate as v
from swinprof.cli._render import emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gap",
        help="profile swinprof's fp32 path against OpenVINO's: where the time goes, by op category",
        description="Time swinprof's fp32 path (torch.compile inductor with frozen weights, or eager) and "
        "openvino-fp32 on the same model and seeded input, interleaved; then profile both alternately "
        "(torch.profiler, OpenVINO PERF_COUNT) and group their op times into Linear GEMMs, attention, the "
        "patch-embedding conv, everything else and time outside ops. Needs pip install 'swinprof[openvino]'. "
        "Example: swinprof gap swin_s --batch 1",
    )
    p.add_argument("model", type=v.variant, help="variant name, e.g. swin_s")
    p.add_argument("--res", type=v.resolution, default=None, help="input resolution (default: the variant's)")
    o.add_batch(p, 1)
    p.add_argument("--attn", type=v.attention_name, default="fused",
                   help="swinprof's attention implementation (default fused)")  # fmt: skip
    p.add_argument("--eager", action="store_true", help="profile the eager model instead of the compiled one")
    p.add_argument("--warmup", type=v.non_negative_int, default=2, help="untimed calls per path first (default 2)")
    p.add_argument("--rounds", type=v.positive_int, default=5,
                   help="timed calls, and profiled calls, per path (default 5)")  # fmt: skip
    o.add_format(p)
    o.add_output(p)
    return p


def run(args: argparse.Namespace) -> int:
    from swinprof.errors import require_extra
    from swinprof.models import create_model
    from swinprof.studies.runtime_gap import runtime_gap

    require_extra("openvino", "openvino", "the OpenVINO runtime")
    # The PyTorch model, its frozen compiled copy and OpenVINO's two compiled models hold the weights at once.
    v.check_memory(args.model, args.res, args.batch, copies=4, what="gap")
    # Random init: latency does not depend on the weight values.
    model = create_model(args.model, img_size=args.res, attn_impl=args.attn)
    gap = runtime_gap(model, args.model, args.batch, not args.eager, args.rounds, args.warmup)
    mode = "eager" if args.eager else "compiled"
    emit(gap.report(), args.format, args.output, f"gap_{gap.variant}_{gap.res}_b{gap.batch}_{mode}_{args.attn}_cpu")
    return 0
