"""Intermediate tensors of an ONNX graph, read in ONNX Runtime: the one place that exposes them.

ONNX Runtime returns only a graph's outputs, so a copy of the graph lists the wanted intermediate tensors as extra
outputs (untyped: ONNX Runtime takes each one's type from the node that writes it, so float16, float32 and int8
tensors are all read as they are). The Q/DQ calibration reads its activation ranges this way, and the error
localization (`qdq_localize`) reads every tensor of two files to compare them.

The export's own tensor renames are recorded in the file (`TENSOR_SOURCES` in its metadata): a tensor written by
swinprof's Q/DQ insertion or fp16 conversion names the tensor of the fp32 graph it stands for (`x_qdq_dq` is `x`
after Q/DQ, `images_fp16` is `images` in float16), so two files can be matched tensor by tensor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from swinprof.errors import SwinprofError, require_extra

# Metadata key of the rename map: JSON {tensor in this file: the fp32 graph's tensor it stands for}.
TENSOR_SOURCES = "swinprof.tensor_sources"
# Protobuf's serialization limit: a larger graph is run from its file instead (not needed for Swin up to swin_l).
_PROTO_LIMIT = 2**31 - 2**20


class TensorProbeError(SwinprofError):
    """The graph cannot be run with its intermediate tensors exposed (too large, unknown tensor, bad input)."""


def record_sources(model, sources: dict[str, str]) -> None:
    """Add `sources` ({new tensor: the fp32 tensor it stands for}) to the model's recorded rename map, chaining
    through earlier entries so every name points at an fp32 tensor."""
    known = tensor_sources(model)
    merged = {**known, **{new: known.get(old, old) for new, old in sources.items() if new != old}}
    for prop in model.metadata_props:
        if prop.key == TENSOR_SOURCES:
            prop.value = json.dumps(merged, sort_keys=True)
            return
    model.metadata_props.add(key=TENSOR_SOURCES, value=json.dumps(merged, sort_keys=True))


def tensor_sources(model) -> dict[str, str]:
    """The recorded rename map of a model ({} for a file swinprof did not write)."""
    for prop in model.metadata_props:
        if prop.key == TENSOR_SOURCES:
            try:
                found = json.loads(prop.value)
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
    return {}


def exposed(model, tensors: Iterable[str]):
    """A copy of `model` whose outputs also list `tensors` (untyped, so each keeps the type its writer gives it)."""
    onnx = require_extra("onnx", "onnx", "reading intermediate ONNX tensors")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    produced = {out for node in probe.graph.node for out in node.output} | {i.name for i in probe.graph.input}
    missing = [t for t in tensors if t not in produced]
    if missing:
        raise TensorProbeError(f"no node of the graph writes tensor {missing[0]!r}")
    probe.graph.output.extend(onnx.ValueInfoProto(name=t) for t in dict.fromkeys(tensors) if t not in known)
    return probe


def probe_session(model, tensors: Iterable[str], providers: Sequence = ("CPUExecutionProvider",)):
    """An ONNX Runtime session of `model` that returns `tensors` besides the graph's outputs. Q/DQ runs as the
    file writes it (`session.disable_quant_qdq`: no fusion into ONNX Runtime's integer kernels, whose x86 int16
    products saturate without VNNI), so the values are the file's own arithmetic."""
    ort = require_extra("onnxruntime", "onnx", "reading intermediate ONNX tensors")
    probe = exposed(model, tensors)
    if probe.ByteSize() > _PROTO_LIMIT:
        raise TensorProbeError("the graph is over 2 GB in memory: intermediate tensors of it cannot be exposed here")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the untyped extra outputs make ORT warn once per tensor; the types are right
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(probe.SerializeToString(), options, providers=list(providers))


def input_name(model) -> str:
    """The name of the graph's (single) image input: the first input that no initializer feeds."""
    inits = {i.name for i in model.graph.initializer}
    names = [i for i in model.graph.input if i.name not in inits]
    if len(names) != 1:
        raise TensorProbeError(f"the graph has {len(names)} inputs; an image model has one")
    return names[0].name


def static_batch(model) -> int:
    """The graph's fixed batch size, or 0 when its batch dimension is symbolic."""
    inits = {i.name for i in model.graph.initializer}
    value = next(i for i in model.graph.input if i.name not in inits)
    dims = value.type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else 0


def graph_batches(model, batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The batches as the graph takes them: split into the graph's own batch size when its batch is static."""
    static = static_batch(model)
    for batch in batches:
        yield from (batch.split(static) if static else [batch])


class TensorReader:
    """`read(images)`: `{tensor: value}` for the chosen tensors from one ONNX Runtime run of the graph on `(B, C,
    H, W)` float32 images (B must suit the graph: `graph_batches` splits for a static batch)."""

    def __init__(self, model, tensors: Sequence[str], providers: Sequence = ("CPUExecutionProvider",)) -> None:
        self.tensors = list(tensors)
        self.session = probe_session(model, self.tensors, providers)
        self.input = input_name(model)

    def read(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        feed = {self.input: np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)}
        return dict(zip(self.tensors, self.session.run(self.tensors, feed), strict=True))


def read_tensors(
    model, tensors: Sequence[str], batches: Iterable[torch.Tensor], providers: Sequence = ("CPUExecutionProvider",)
) -> Iterator[dict[str, np.ndarray]]:
    """Per batch (split to the graph's static batch when it has one), `{tensor: value}` for `tensors`."""
    reader = TensorReader(model, tensors, providers)
    for batch in graph_batches(model, batches):
        yield reader.read(batch)
