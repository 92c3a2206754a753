"""torch.compile wrappers that say what dynamo did: graphs compiled, graph breaks (with reasons), recompiles.

A compiled model that silently splits into many graphs or recompiles in the timing loop measures something else
than what its row claims. `CompiledModel` reads dynamo's own counters (`torch._dynamo.utils.counters`) before and
after each call and keeps the differences, so a report can print `graphs / breaks / recompiles` and warn.
Calls are sequential, so the difference across one call belongs to this model.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

# The dynamo counter key (under "unimplemented") it bumps when a frame exceeds config.recompile_limit and is
# left to run eagerly from then on.
_RECOMPILE_LIMIT = "Dynamo recompile limit exceeded"
# Inductor's counter (under "inductor") of Linears its freezing pass replaced by a prepacked MKL/oneDNN linear
# (`torch._inductor.config.cpp.weight_prepack`, on by default; needs freezing and grad disabled).
_LINEAR_PACKED = "mkldnn_linear_weight_pack_matcher_count"


@dataclass
class CompileStats:
    """What dynamo did for one compiled model, over all its calls so far.

    graphs: graphs dynamo compiled (one per input signature when the model compiles whole; more with breaks).
    breaks: graph-break events, `break_reasons` counts them by first line of dynamo's message.
    recompiles: graphs compiled on calls whose input signature (shape, dtype, device) had been seen before, i.e.
    after that signature's warm-up call (guard failures). signatures: distinct input signatures (each compiles
    once by design: shapes are static). recompile_limit_hits: frames dynamo gave up recompiling
    (`torch._dynamo.config.recompile_limit`), which then run eagerly, uncompiled. prepacked_linears: Linears
    inductor's freezing pass turned into prepacked MKL/oneDNN linears (0 without freezing), over all graphs.
    cache_repair: what was removed from inductor's cache before this model's compile (`optimize.inductor_cache`;
    empty when nothing was, or another model of the process already checked).
    """

    graphs: int = 0
    breaks: int = 0
    recompiles: int = 0
    signatures: int = 0
    recompile_limit_hits: int = 0
    break_reasons: dict[str, int] = field(default_factory=dict)
    prepacked_linears: int = 0
    cache_repair: str = ""

    @property
    def summary(self) -> str:
        """`graphs / breaks / recompiles`, the run table's cell."""
        return f"{self.graphs} / {self.breaks} / {self.recompiles}"

    def problems(self) -> list[str]:
        """One line per thing a reader of latency numbers must know: breaks, recompiles, the recompile limit."""
        out = []
        if self.breaks:
            reasons = "; ".join(f"{n}x {r}" for r, n in sorted(self.break_reasons.items(), key=lambda kv: -kv[1]))
            out.append(f"{self.breaks} graph breaks split it into {self.graphs} graphs for {self.signatures} input "
                       f"shapes ({reasons})")  # fmt: skip
        if self.recompiles:
            out.append(f"{self.recompiles} graphs recompiled after their warm-up call (guard failures)")
        if self.recompile_limit_hits:
            limit = torch._dynamo.config.recompile_limit
            out.append(f"hit torch._dynamo recompile_limit ({limit}) {self.recompile_limit_hits} times: those frames "
                       "run eagerly, uncompiled")  # fmt: skip
        if self.cache_repair:
            out.append(self.cache_repair)
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Snapshot:
    graphs: int
    breaks: Counter
    limit_hits: int
    packed: int

    @classmethod
    def now(cls) -> _Snapshot:
        from torch._dynamo.utils import counters

        limit = sum(n for msg, n in counters["unimplemented"].items() if msg.startswith(_RECOMPILE_LIMIT))
        packed = counters["inductor"][_LINEAR_PACKED]
        return cls(counters["stats"]["unique_graphs"], Counter(counters["graph_break"]), limit, packed)


def _reason(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown"


class CompiledModel:
    """`torch.compile(module, backend=..., mode=...)`, called under inference mode, counting what dynamo does.

    `freezing=True` lets inductor treat parameters as constants (constant folding, weight prepacking; PT2E int8
    needs it to reach the oneDNN int8 kernels). The inductor config is patched around every call rather than
    set globally, so compiling one model does not change how another compiles. Shapes are static
    (`dynamic=False`): each new batch size compiles once, and that first call's time is the compile time;
    `dynamic_batch` marks the batch dimension dynamic instead (one graph for batch 1, one for all larger ones).
    `backend` may be any torch.compile backend ("eager" / "aot_eager" compile fast, for tests).
    """

    def __init__(self, module: nn.Module, mode: str = "default", freezing: bool = False, fullgraph: bool = False,
                 backend: str = "inductor", dynamic_batch: bool = False) -> None:  # fmt: skip
        self.module = module
        self.mode = mode
        self.freezing = freezing
        self.dynamic_batch = dynamic_batch
        self._stats = CompileStats()
        self._seen: set[tuple] = set()
        # Inductor's generated code of each input signature's warm-up call (swinprof.optimize.proof): the graphs
        # that one call compiled (one for the whole model, more with breaks).
        self.codes: dict[tuple, list[str]] = {}
        options = {"mode": None if mode == "default" else mode} if backend == "inductor" else {}
        if backend == "inductor":  # before the process's first compile: cut binaries poison it (inductor_cache)
            from swinprof.optimize.inductor_cache import repair_once

            repair = repair_once()
            self._stats.cache_repair = repair.message() if repair else ""
        self._compiled = torch.compile(module, backend=backend, fullgraph=fullgraph, dynamic=False, **options)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch._inductor.config as inductor_config

        if x.is_inference():
            # Dynamo guards on an input's dispatch keys: an inference tensor (made under inference_mode, e.g. a
            # padded last batch) fails the guards of the graph compiled for a normal tensor and recompiles it.
            # A normal copy (one input-sized memcpy, only for such inputs) keeps one graph per shape.
            with torch.inference_mode(False):
                x = x.clone()
        if self.dynamic_batch:
            torch._dynamo.maybe_mark_dynamic(x, 0)  # batch 1 still specialises (dynamo's 0/1 rule): two graphs
        signature = (tuple(x.shape), x.dtype, x.device)
        warmup = signature not in self._seen
        before = _Snapshot.now()
        from swinprof.optimize.proof import inductor_output_code

        with (
            inductor_config.patch(freezing=self.freezing),
            torch.inference_mode(),
            inductor_output_code(self.codes.setdefault(signature, []) if warmup else None),
        ):
            out = self._compiled(x)
        self._seen.add(signature)
        self._count(before, _Snapshot.now(), warmup)
        return out

    def _count(self, before: _Snapshot, after: _Snapshot, warmup: bool) -> None:
        s = self._stats
        graphs = after.graphs - before.graphs
        s.graphs += graphs
        s.signatures = len(self._seen)
        if not warmup:
            s.recompiles += graphs
        s.recompile_limit_hits += after.limit_hits - before.limit_hits
        s.prepacked_linears += after.packed - before.packed
        for message, n in (after.breaks - before.breaks).items():
            s.breaks += n
            s.break_reasons[_reason(message)] = s.break_reasons.get(_reason(message), 0) + n

    def stats(self) -> CompileStats:
        """A copy of the counts so far."""
        return dataclasses.replace(self._stats, break_reasons=dict(self._stats.break_reasons))


def compile_model(
    module: nn.Module,
    backend: str,
    mode: str = "default",
    freezing: bool = False,
    fullgraph: bool = False,
    dynamic_batch: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`module` itself for backend "none", else a CompiledModel."""
    if backend == "none":
        return module
    if backend != "inductor":
        raise ValueError(f"unknown compile backend {backend!r}")
    return CompiledModel(module, mode, freezing, fullgraph, dynamic_batch=dynamic_batch)
