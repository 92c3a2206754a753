"""The layer summary: torchinfo's module tree, with mult-adds that add up to the aten-level total.

torchinfo's own mult-adds come from module hooks on leaf layers; for a transformer they miss the token
dimension of Linear layers and every functional op (attention matmuls), so swin_s reads ~105 M instead of
~8.7 G. We keep torchinfo for the tree, shapes and params, and attribute the counting pass's MACs to rows:
`MACs (self)` are the ops run inside a row's module but not inside a shown child row, so the column sums to
the total exactly; `MACs (total)` includes the subtree.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torchinfo
from torch import nn

from swinprof.profile.macs import CostTrace

MB = 1e6


@dataclass
class LayerSummary:
    """The table and torchinfo's footer numbers (bytes in MB of 1e6, as torchinfo prints them)."""

    frame: pd.DataFrame
    total_params: int
    total_macs: int
    torchinfo_macs: int
    input_mb: float
    forward_backward_mb: float
    params_mb: float

    @property
    def estimated_total_mb(self) -> float:
        return self.input_mb + self.forward_backward_mb + self.params_mb

    def footer(self) -> pd.DataFrame:
        items = [
            ("Total params", self.total_params),
            ("Mult-adds, aten count (G)", self.total_macs / 1e9),
            ("Mult-adds, torchinfo (G)", self.torchinfo_macs / 1e9),
            ("Input size (MB)", self.input_mb),
            ("Forward/backward pass size (MB)", self.forward_backward_mb),
            ("Params size (MB)", self.params_mb),
            ("Estimated total size (MB)", self.estimated_total_mb),
        ]
        return pd.DataFrame(items, columns=["total", "value"], dtype=object)


def _owner(path: str, shown: set[str]) -> str:
    """Deepest shown row that contains module `path` ("" is the root and always shown)."""
    while path not in shown:
        path = path.rpartition(".")[0]
    return path


def layer_summary(model: nn.Module, example_input: torch.Tensor, trace: CostTrace, depth: int = 3) -> LayerSummary:
    """torchinfo's tree down to `depth`, beside our MACs from `trace` (a counting pass of the same input).

    Runs torchinfo's own forward on `example_input` (meta tensors work and cost nothing).
    """
    stats = torchinfo.summary(
        model,
        input_data=example_input,
        depth=depth,
        verbose=0,
        col_names=("output_size", "num_params", "mult_adds"),
        device=example_input.device,
    )
    names = {id(m): n for n, m in model.named_modules()}
    layers = [info for info in stats.summary_list if info.depth <= depth]
    seen: set[str] = set()
    shown_layers = []
    for info in layers:  # a module called twice appears twice in torchinfo; its MACs go to the first row
        path = names.get(id(info.module), "")
        shown_layers.append((info, path, path not in seen))
        seen.add(path)
    by_module = trace.macs_by("module")
    self_macs: dict[str, int] = {}
    for module_path, macs in by_module.items():
        owner = _owner(module_path, seen)
        self_macs[owner] = self_macs.get(owner, 0) + int(macs)
    rows = []
    for info, path, first in shown_layers:
        inclusive = sum(int(m) for p, m in by_module.items() if p == path or not path or p.startswith(path + "."))
        rows.append(
            {
                "Layer (type:depth-idx)": f"{'  ' * info.depth}{info.class_name}: {info.depth}-{info.depth_index}",
                "module": path or "(root)",
                "Output Shape": str(list(info.output_size)) if info.output_size else "",
                "Param #": int(info.num_params),
                "MACs (self)": self_macs.get(path, 0) if first else 0,
                "MACs (total)": inclusive if first else 0,
                # torchinfo counts leaf layers only; its container rows are not sums (the root showed params x 1000)
                "torchinfo mult-adds": int(info.macs) if info.is_leaf_layer else None,
            }
        )
    return LayerSummary(
        pd.DataFrame(rows),
        int(stats.total_params),
        trace.total_macs,
        int(stats.total_mult_adds),
        example_input.numel() * example_input.element_size() / MB,  # torchinfo's total_input adds a few bytes
        stats.total_output_bytes / MB,
        # torchinfo's own param bytes skip parameters used outside a module call (v2's logit_scale, q/v bias)
        sum(p.numel() * p.element_size() for p in model.parameters()) / MB,
    )
