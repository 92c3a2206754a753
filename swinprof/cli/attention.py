"""`swinprof attention`: compare the shifted-window attention implementations on one model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from swinprof.cli._render import err_console, print_frame
from swinprof.errors import SwinprofError
from swinprof.models import get_variant
from swinprof.report.files import atomic_write_text, ensure_writable_dir
from swinprof.report.render import to_csv, to_markdown, to_records
from swinprof.studies.attention import AttentionComparison, compare_attention

WRITE_FORMATS = ("md", "csv", "json")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("attention", help="compare attention implementations: error, latency, memory, speedup")
    p.add_argument("variant", help="model variant, e.g. swin_t (see `swinprof models`)")
    p.add_argument("--res", type=int, default=None, help="input resolution (default: the variant's)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--backward", action="store_true", help="time forward + backward instead of forward")
    p.add_argument("--impl", default=None, help="comma-separated implementations (default: all registered)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10, help="interleaved rounds for the full-model timing")
    p.add_argument("--block-iters", type=int, default=None, help="rounds per block timing (default: --iters)")
    p.add_argument("--output", default=None, help="directory to write the table to (md, csv, json)")
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    return p


def _stem(args: argparse.Namespace, res: int) -> str:
    mode = "_bwd" if args.backward else ""
    return f"attention_{args.variant}_{res}_b{args.batch}_{args.device.split(':')[0]}{mode}"


def _markdown(result: AttentionComparison, title: str) -> str:
    env = result.environment
    lines = [f"# {title}", "", to_markdown(result.table)]
    lines += ["Notes:", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += ["Settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()), ""]
    lines += [
        f"Environment: torch {env['torch']}, {env['cpu']} ({env['threads']} threads), device {env['device']}"
        + (f" ({env['gpu']})" if env.get("gpu") else "")
        + f", git {env['git_sha']}{' (dirty)' if env['git_dirty'] else ''}, {env['timestamp']}",
        "",
    ]
    return "\n".join(lines)


def _write(result: AttentionComparison, title: str, out_dir: str, stem: str) -> list[Path]:
    directory = ensure_writable_dir(out_dir)
    payload = {
        "title": title,
        "settings": result.settings,
        "environment": result.environment,
        "notes": result.notes,
        "rows": to_records(result.table),
    }
    texts = {"md": _markdown(result, title), "csv": to_csv(result.table), "json": json.dumps(payload, indent=2)}
    return [atomic_write_text(directory / f"{stem}.{ext}", texts[ext]) for ext in WRITE_FORMATS]


def run(args: argparse.Namespace) -> int:
    res = args.res or get_variant(args.variant).config.img_size
    if args.batch < 1 or args.iters < 1 or args.warmup < 0:
        raise SwinprofError("--batch and --iters must be at least 1 and --warmup at least 0")
    impls = [s.strip() for s in args.impl.split(",") if s.strip()] if args.impl else None
    if args.output:
        ensure_writable_dir(args.output)  # fail before minutes of measuring, not after
    with err_console.status("measuring") as status:
        result = compare_attention(
            args.variant, res, args.batch, args.device, args.dtype, args.backward, impls,
            args.warmup, args.iters, args.block_iters, on_progress=lambda msg: status.update(msg),
        )  # fmt: skip
    mode = "forward + backward" if args.backward else "forward"
    title = f"Attention implementations: {args.variant} {res}x{res}, batch {args.batch}, {args.device}, {args.dtype}"
    title += f", {mode}"
    print_frame(result.table, title=title, fmt=args.format)
    if args.output:
        for path in _write(result, title, args.output, _stem(args, res)):
            err_console.print(f"wrote {path}")
    return 0
