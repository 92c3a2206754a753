"""Switchboards: a recipe's quantized model prepared ONCE, whose layers can each be run quantized or in fp32.

Sensitivity analysis and the accuracy-budget search evaluate the same model with many different sets of
quantized layers. Re-running the recipe per set (PT2E export + calibrate + convert + inductor compile) costs
about 100 s per set for swin_t on 2 cores; a switchboard pays that once:

- PT2E (`pt2e-int8-x86`): export, prepare with the recipe's own X86InductorQuantizer, calibrate and convert
  once, keeping weights as fp32 -> quantize -> dequantize (`fold_quantize=False`). The converted graph is the
  reference (un-lowered) form: its quantize/dequantize pairs are the numerics the oneDNN int8 kernels compute.
  Turning a layer off points its `aten.linear` / `aten.conv2d` back at the fp32 activation and the fp32 weight
  (the q/dq nodes stay in the graph, unused and skipped). The graph runs node by node (`fx.Interpreter`), so a
  switch takes effect without regenerating code.
- torchao methods (`int8-dynamic`, `int8-weight-only`, `fp8-dynamic`): quantize a copy once with the recipe's
  config, then swap each `nn.Linear` between its quantized and its fp32 module.

Each switchboard is registered for its methods beside its builder, like the methods themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from swinprof.errors import RecipeError
from swinprof.optimize.methods import MethodJob, apply_method, methods
from swinprof.optimize.pt2e import quantize_pt2e_x86, resolve_reduce_range
from swinprof.optimize.recipe import Recipe


class Switchboard:
    """A quantized model whose `layers` (module names, model order) are switched on or off by `set`.

    Calling it maps `(B, 3, H, W)` fp32 images to `(B, classes)` fp32 logits with the current setting.
    """

    layers: list[str]

    def set(self, enabled: Iterable[str]) -> None:
        """Quantize exactly the layers in `enabled` (the others run in fp32)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class _Input:
    """One quantized input of a layer's op node: `node.args[index]` is `quantized` (a dequantize node) when the
    layer is on and `original` (the fp32 value that was quantized) when it is off."""

    node: fx.Node
    index: int
    quantized: fx.Node
    original: fx.Node


def _is_dequantize(node) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_function" and "dequantize" in str(node.target)


def _module_name(node: fx.Node) -> str | None:
    """The fqn of the innermost module that produced `node` (torch.export's `nn_module_stack`)."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else None


def _fp32_source(dq: fx.Node) -> fx.Node | None:
    """dequantize(quantize(x, ...), ...) -> x; None when the int8 value has no fp32 origin in the graph."""
    q = dq.args[0]
    if isinstance(q, fx.Node) and q.op == "call_function" and "quantize" in str(q.target):
        src = q.args[0]
        return src if isinstance(src, fx.Node) else None
    return None


class _Run(fx.Interpreter):
    """Runs a graph node by node, skipping nodes whose value nothing uses (the q/dq of layers switched off)."""

    def __init__(self, gm: fx.GraphModule, dead: set[fx.Node]) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.dead = dead

    def run_node(self, n: fx.Node):
        return None if n in self.dead else super().run_node(n)


class GraphSwitchboard(Switchboard):
    """A PT2E-converted graph with per-layer switches (see the module docstring).

    Two caches make repeated evaluation cheap. Constants: nodes computed from weights only (the fp32 weight's
    quantize -> dequantize) are computed once. Prefix: `cache(x)` runs the graph in fp32 once and keeps the
    values that are live where each layer's first quantized op starts; a later call on the same `x` resumes
    there, at the earliest layer switched on, so quantizing one late layer re-runs only the model's tail.
    """

    def __init__(self, gm: fx.GraphModule, layers: Sequence[str]) -> None:
        self.gm = gm
        wanted = set(layers)
        self._inputs: dict[str, list[_Input]] = {}
        self._order = {n: i for i, n in enumerate(gm.graph.nodes)}
        for node in gm.graph.nodes:
            if node.op != "call_function":
                continue
            name = _module_name(node)
            if name not in wanted:
                continue
            for i, arg in enumerate(node.args):
                src = _fp32_source(arg) if _is_dequantize(arg) else None
                if src is not None:
                    self._inputs.setdefault(name, []).append(_Input(node, i, arg, src))
        # Layers the quantizer selected but left unannotated (none for Linear/Conv2d today) cannot be switched.
        self.layers = [n for n in layers if n in self._inputs]
        self._const = self._constant_nodes()
        self._cut = {n: min(self._order[m] for inp in self._inputs[n] for m in self._chain(inp)) for n in self.layers}
        self._constants = self._fold_constants()
        self._cached_x: torch.Tensor | None = None
        self._prefix: dict[fx.Node, torch.Tensor] = {}
        self._on: frozenset[str] | None = None
        self.set(self.layers)

    def _chain(self, inp: _Input) -> list[fx.Node]:
        """The op node and the quantize/dequantize nodes feeding it that run per input (not weight constants)."""
        q = inp.quantized.args[0]
        return [inp.node, *(n for n in (inp.quantized, q) if n.op == "call_function" and n not in self._const)]

    def _constant_nodes(self) -> set[fx.Node]:
        const: set[fx.Node] = set()
        for n in self.gm.graph.nodes:
            if n.op == "get_attr" or (
                n.op == "call_function" and n.all_input_nodes and all(a in const for a in n.all_input_nodes)
            ):
                const.add(n)
        return const

    def _fold_constants(self) -> dict[fx.Node, object]:
        """Values of the nodes that depend on weights only (int8 weights and their dequantized form)."""
        nodes, const = list(self.gm.graph.nodes), self._const
        run = fx.Interpreter(self.gm, garbage_collect_values=False)
        values: dict[fx.Node, object] = {}
        with torch.inference_mode():
            for n in nodes:
                if n in const:
                    run.env = values
                    values[n] = run.run_node(n)
        return values

    def set(self, enabled: Iterable[str]) -> None:
        on = frozenset(enabled)
        unknown = on - set(self.layers)
        if unknown:
            raise RecipeError(f"not a quantizable layer of this recipe: {sorted(unknown)[0]!r}")
        if on == self._on:
            return
        for name, inputs in self._inputs.items():
            for inp in inputs:
                inp.node.update_arg(inp.index, inp.quantized if name in on else inp.original)
        self._dead_nodes = self._dead()
        self._on = on

    def _dead(self) -> set[fx.Node]:
        """Nodes no output depends on under the current switches."""
        dead: set[fx.Node] = set()
        for n in reversed(self.gm.graph.nodes):
            if n.op not in ("output", "placeholder") and all(u in dead for u in n.users):
                dead.add(n)
        return dead

    def _live_at(self, cuts: list[int]) -> set[fx.Node]:
        """Nodes computed before some cut whose value a node at or after that cut reads."""
        live = set()
        for n in self.gm.graph.nodes:
            last = max((self._order[u] for u in n.users), default=-1)
            if n not in self._const and any(self._order[n] < c <= last for c in cuts):
                live.add(n)
        return live

    def cache(self, x: torch.Tensor) -> None:
        """Run `x` in fp32 once and keep the values live at each layer's cut (see the class docstring)."""
        current = self._on
        self.set(())
        cuts = sorted(set(self._cut.values()))
        keep = self._live_at(cuts)
        self.set(self.layers)  # a switch moves edges between the fp32 value and its q/dq: keep both sides' values
        keep |= self._live_at(cuts)
        self.set(())
        values: dict[fx.Node, torch.Tensor] = {}

        class Keep(_Run):
            def run_node(inner, n):
                out = super().run_node(n)
                if n in keep:
                    values[n] = out
                return out

        with torch.inference_mode():
            Keep(self.gm, self._dead_nodes).run(x, initial_env=dict(self._constants))
        self._cached_x, self._prefix = x, values
        self.set(current or ())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        env = dict(self._constants)
        if x is self._cached_x and self._on:
            start = min(self._cut[n] for n in self._on)
            for n, i in self._order.items():
                if i < start and n not in env:
                    env[n] = self._prefix.get(n)  # values no later node reads stay None
        with torch.inference_mode():
            return _Run(self.gm, self._dead_nodes).run(x, initial_env=env)


class ModuleSwitchboard(Switchboard):
    """A module tree whose named submodules are swapped between a quantized and an fp32 version."""

    def __init__(self, work: nn.Module, fp32: nn.Module, layers: Sequence[str]) -> None:
        self.work = work
        self.layers = list(layers)
        self._versions = {n: (work.get_submodule(n), fp32.get_submodule(n)) for n in self.layers}
        self.set(self.layers)

    def set(self, enabled: Iterable[str]) -> None:
        on = frozenset(enabled)
        unknown = on - set(self.layers)
        if unknown:
            raise RecipeError(f"not a quantizable layer of this recipe: {sorted(unknown)[0]!r}")
        for name, (quantized, fp32) in self._versions.items():
            parent, _, leaf = name.rpartition(".")
            setattr(self.work.get_submodule(parent) if parent else self.work, leaf, quantized if name in on else fp32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.work(x)


@dataclass
class SwitchJob:
    """What a switchboard builder gets: the recipe, the fp32 eval-mode model (never modified), the calibration
    batches `(B, 3, H, W)`, and the include/skip globs that decide which layers get a switch."""

    recipe: Recipe
    model: nn.Module
    calibration: Sequence[torch.Tensor]
    include: Sequence[str] = ("*",)
    skip: Sequence[str] = ()
    notes: list[str] = field(default_factory=list)


_BUILDERS: dict[str, Callable[[SwitchJob], Switchboard]] = {}


def register_switchboard(*method_names: str):
    """Decorator: `fn(job: SwitchJob) -> Switchboard` builds the switchboard of these quantization methods."""

    def register(fn):
        for name in method_names:
            _BUILDERS[name] = fn
        return fn

    return register


def supported_methods() -> tuple[str, ...]:
    """The methods whose registration says sensitivity can switch their layers (`MethodSpec.switchable`), in
    the order their switchboard builders were registered below (the guard test holds the two together)."""
    switchable = {name for name, m in methods().items() if m.spec.switchable}
    return tuple(name for name in _BUILDERS if name in switchable)


@register_switchboard("pt2e-int8-x86")
def pt2e_switchboard(job: SwitchJob) -> Switchboard:
    """Export, calibrate and convert once with the recipe's quantizer settings; weights stay unfolded."""
    if not job.calibration:
        raise RecipeError("PT2E sensitivity needs calibration batches")
    reduce_range = resolve_reduce_range(job.recipe.quantize.reduce_range)
    gm, layers = quantize_pt2e_x86(job.model, job.calibration, job.include, job.skip, reduce_range,
                                   fold_quantize=False)  # fmt: skip
    job.notes.append(f"reduce_range={reduce_range}")
    board = GraphSwitchboard(gm, layers)
    if layers and not board.layers:  # the globs chose layers, the quantizer annotated none of them
        from importlib.metadata import version

        raise RecipeError(
            f"recipe {job.recipe.name!r}: PT2E's X86InductorQuantizer left all {len(layers)} selected layers in "
            f"fp32 with torch {torch.__version__} and torchao {version('torchao')}: nothing to rank"
        )
    return board


@register_switchboard("int8-dynamic", "int8-weight-only", "fp8-dynamic")
def torchao_switchboard(job: SwitchJob) -> Switchboard:
    """The recipe's torchao method applied once to a copy; each Linear swaps with the fp32 original."""
    method = job.recipe.quantize.method
    q = apply_method(method, MethodJob(job.model, job.model, job.include, job.skip, name=job.recipe.name))
    return ModuleSwitchboard(q.work, job.model, q.layers)


def check_supported(recipe: Recipe) -> None:
    """RecipeError (before any work) unless a switchboard exists for the recipe's method."""
    if recipe.quantize.method not in supported_methods():
        raise RecipeError(
            f"sensitivity/budget search does not support method {recipe.quantize.method!r} (recipe "
            f"{recipe.name!r}); supported: {', '.join(supported_methods())}"
        )


def build_switchboard(
    recipe: Recipe, model: nn.Module, calibration: Sequence[torch.Tensor], ignore_skip: bool = False
) -> tuple[Switchboard, list[str]]:
    """The switchboard of `recipe`'s method for `model`, every switchable layer on, and notes for the report.

    `ignore_skip`: give every Linear/Conv2d a switch, even those the recipe's `skip` keeps in fp32.
    """
    check_supported(recipe)
    method, q = recipe.quantize.method, recipe.quantize
    job = SwitchJob(recipe, model, list(calibration), q.include, () if ignore_skip else q.skip)
    board = _BUILDERS[method](job)
    if not board.layers:
        raise RecipeError(f"recipe {recipe.name!r}: its include/skip globs leave no layer to quantize")
    return board, job.notes
