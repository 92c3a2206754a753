"""`torch.export` of the model for the deployment runtimes (ONNX, OpenVINO), and where its nodes came from.

One export path, so every runtime converts the same graph: non-strict, on a copy (a failed capture can leave
tracing state on the module it traced), with a symbolic batch dimension when asked.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# A batch dimension this wide covers every benchmark batch size; export needs a finite bound.
MAX_EXPORT_BATCH = 1024


def export_program(
    model: nn.Module, img_size: int, dynamic_batch: bool = True, batch: int = 1
) -> torch.export.ExportedProgram:
    """The eval-mode fp32 `model` as an ExportedProgram taking `(B, 3, img_size, img_size)` images.

    torch.export specialises a dimension of size 1, so a dynamic batch is traced with at least 2 images.
    """
    example = torch.zeros(max(batch, 2) if dynamic_batch else batch, model.config.in_chans, img_size, img_size)
    dims = {"x": {0: torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)}} if dynamic_batch else None
    with torch.no_grad():
        return torch.export.export(copy.deepcopy(model).eval(), (example,), dynamic_shapes=dims, strict=False)


def node_modules(graph: torch.fx.Graph) -> dict[str, str]:
    """`{graph node name: name of the innermost module it was traced in}` for every call in an exported graph
    (decompositions keep the module stack of the node they replace).

    Nodes outside any submodule (the top-level forward) map to "". Converters that keep the node names
    (OpenVINO names its ops `<node>/<aten op>/<op type>`) can then select ops by module-name glob.
    """
    out = {}
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        out[node.name] = list(stack.values())[-1][0] if stack else ""
    return out
