"""The aten-level cost counter: every op the dispatcher runs, with its MACs, module path and stage.

One forward pass (the meta device is enough: nothing is computed) under a `TorchDispatchMode` records each
aten call. MACs come from PyTorch's own flop formulas (`torch.utils.flop_counter`, FLOPs / 2), so matmuls
inside attention are seen, unlike module-hook counters. Every record carries the innermost module that was
running and the stage it belongs to, so per-stage, per-layer and per-op tables are group-bys of one list
and add up to the same total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

from swinprof.measure.memory import TensorPeak, fresh_outputs
from swinprof.profile.grouping import Stage, StageSpec, as_stages

aten = torch.ops.aten

# Metadata queries that are not computation (the same list FlopCounterMode ignores).
_METADATA_OPS = {
    aten.is_contiguous.default,
    aten.is_contiguous.memory_format,
    aten.is_strides_like_format.default,
    aten.is_non_overlapping_and_dense.default,
    aten.size.default,
    aten.sym_size.default,
    aten.stride.default,
    aten.sym_stride.default,
    aten.storage_offset.default,
    aten.sym_storage_offset.default,
    aten.numel.default,
    aten.sym_numel.default,
    aten.dim.default,
    torch.ops.prim.layout.default,
    torch.ops.prim.device.default,
}

RECORD_COLUMNS = ["stage", "module", "op", "macs", "shapes", "out_bytes", "bytes"]


@dataclass
class StageCost:
    """What one stage costs: `output_shape` of its result, its params, MACs and tensor peak (input included)."""

    name: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    tensor_peak_bytes: int
    output_bytes: int


@dataclass
class CostTrace:
    """The counting pass: one row per aten call plus per-stage summaries.

    `records` columns: stage, module (dotted path, "" = the root), op (`aten.mm`), macs, shapes (input
    tensor shapes), out_bytes (bytes newly allocated by the call; views and in-place ops allocate none), bytes
    (bytes moved: the distinct bytes of every tensor input read plus every output written; 0 for a view).
    """

    records: pd.DataFrame
    stages: list[StageCost]
    modules_called: dict[str, int] = field(default_factory=dict)  # module path -> number of calls
    input_bytes: int = 0
    tensor_peak_bytes: int = 0  # of the whole forward (measure.memory.TENSOR_PEAK; the input not included)

    @property
    def total_macs(self) -> int:
        return int(self.records["macs"].sum())

    def macs_by(self, column: str) -> pd.Series:
        return self.records.groupby(column, sort=False)["macs"].sum()


def _shape_text(args, kwargs) -> str:
    leaves, _ = tree_flatten((args, kwargs))
    return " x ".join(str(list(t.shape)) for t in leaves if isinstance(t, torch.Tensor))


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def distinct_bytes(t: torch.Tensor) -> int:
    """Bytes of the memory a tensor spans once: a broadcast (stride-0) dimension is read once, not per use."""
    elems = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            elems *= size
    return elems * t.element_size() if t.numel() else 0


def bytes_moved(func, args, kwargs, out) -> int:
    """Inputs read plus outputs written by one aten call, from its schema: a view (every output an alias that
    is not written) moves nothing; an in-place op reads and writes its target."""
    returns = func._schema.returns
    outs = out if isinstance(out, (tuple, list)) else (out,)
    inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
    input_storages = {t.untyped_storage()._cdata for t in inputs}
    written = 0
    viewing = True
    for i, t in enumerate(outs):
        if not isinstance(t, torch.Tensor):
            continue
        alias = returns[i].alias_info if i < len(returns) else None
        if alias is not None and not alias.is_write:
            continue  # a view of an input: no data moves
        if alias is None and t.untyped_storage()._cdata in input_storages:
            continue  # a view the schema does not annotate (`_unsafe_view`)
        viewing = False
        written += distinct_bytes(t)
    if viewing:
        return 0
    return written + sum(distinct_bytes(t) for t in inputs)


class _CostMode(TorchDispatchMode):
    """Records every aten call with its MACs and the bytes of the fresh tensors it returned."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple] = []
        self.stage = ""
        self.module_stack: list[str] = [""]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _METADATA_OPS:
            return func(*args, **kwargs)
        packet = func._overloadpacket
        if packet not in flop_registry:
            # Like FlopCounterMode: ops with a composite decomposition are counted through it.
            with self:
                r = func.decompose(*args, **kwargs)
            if r is not NotImplemented:
                return r
        out = func(*args, **kwargs)
        flops = flop_registry[packet](*args, **kwargs, out_val=out) if packet in flop_registry else 0
        allocated = sum(_tensor_bytes(t) for t in fresh_outputs(func, out))
        moved = bytes_moved(func, args, kwargs, out)
        name = f"aten.{packet.__name__}"
        self.rows.append(
            (self.stage, self.module_stack[-1], name, int(flops) // 2, _shape_text(args, kwargs), allocated, moved)
        )
        return out


def _module_hooks(model: nn.Module, mode: _CostMode, calls: dict[str, int]) -> list:
    handles = []
    for name, module in model.named_modules():

        def pre(_mod, _inp, name=name):
            mode.module_stack.append(name)
            calls[name] = calls.get(name, 0) + 1

        def post(_mod, _inp, _out, name=name):
            if mode.module_stack[-1] == name:
                mode.module_stack.pop()

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post, always_call=True))
    return handles


def _functional_calls(model: nn.Module, calls: dict[str, int]) -> dict[str, int]:
    """Calls of the modules that ran without being entered: the root (the stages are one forward of it) and
    modules a parent uses functionally (an attention implementation is a function given `block.attn`), seen by
    their descendants having run. Such a module counts its parent's calls; containers (ModuleList, ModuleDict)
    are iterated, never called, and keep 0."""
    out = dict(calls)
    for name, module in model.named_modules():  # parents come before their children
        if out.get(name, 0) or isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            continue
        if any(calls.get(f"{name}.{c}" if name else c, 0) for c, _ in module.named_modules() if c):
            out[name] = out.get(name.rpartition(".")[0], 0) if name else 1
    return out


def stage_params(stage: Stage, called: set[nn.Module]) -> int:
    """Parameters of the stage's listed modules (or, for a bare callable, of the modules it ran)."""
    modules = stage.modules or tuple(called)
    seen: dict[int, int] = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


def count_costs(model: nn.Module, example_input: torch.Tensor, stages: Sequence[StageSpec] | None = None) -> CostTrace:
    """Run the stages once on `example_input` under the counter (use the meta device to make it free).

    `example_input` is the model input, e.g. `(B, 3, H, W)`; counts are for the whole batch. Runs under
    `torch.inference_mode()` like `measure.memory.forward_tensor_peak`, so the tensor peaks here equal what every
    other command measures for one forward of the same input (caches the model fills on its first call are
    built as model state, unseen by either meter: `models.cache.as_model_state`).
    """
    stage_list = as_stages(model, stages)
    mode, calls = _CostMode(), {}
    handles = _module_hooks(model, mode, calls)
    by_id = {id(m): m for m in model.modules()}
    results: list[StageCost] = []
    # The tensor-peak meter is entered last, so it sees each op as the model issued it (before the counter's
    # decompositions): its accounting is exactly that of a plain forward under `TensorPeak`.
    meter = TensorPeak()
    try:
        with torch.inference_mode(), mode, meter:
            x = example_input
            for stage in stage_list:
                mode.stage, first_row = stage.name, len(mode.rows)
                before = dict(calls)
                meter.reset_peak()  # the stage's peak counts its input (the previous stage's output) too
                x = stage.fn(x)
                ran = {by_id[id(m)] for n, m in model.named_modules() if calls.get(n, 0) > before.get(n, 0)}
                macs = sum(r[3] for r in mode.rows[first_row:])
                out_shape = tuple(x.shape) if isinstance(x, torch.Tensor) else ()
                out_bytes = _tensor_bytes(x) if isinstance(x, torch.Tensor) else 0
                results.append(StageCost(stage.name, out_shape, stage_params(stage, ran), macs, meter.peak, out_bytes))
            del x
    finally:
        for h in handles:
            h.remove()
    records = pd.DataFrame(mode.rows, columns=RECORD_COLUMNS)
    peak = max((s.tensor_peak_bytes for s in results), default=0)
    return CostTrace(records, results, _functional_calls(model, calls), _tensor_bytes(example_input), peak)
