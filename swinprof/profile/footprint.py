"""The memory a request will need, estimated on the meta device before anything real is allocated.

One forward of one image is run on a meta-device model under the tensor-peak meter (shapes only, no data, well
under a second at any size), then scaled: activations grow linearly with the batch, weights do not. The number
is an estimate of the tensors alone (no allocator slack, no library overhead), so a run it refuses could never
have fitted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from swinprof.errors import SwinprofError
from swinprof.measure.device import resolve_dtype
from swinprof.measure.memory import TensorPeak

# Training holds weights, their gradients and AdamW's two moments: four copies of the parameters.
TRAIN_PARAM_COPIES = 4


@dataclass(frozen=True)
class Footprint:
    """Bytes of the weights (all copies a step holds), the input batch and the peak of live activations."""

    params_bytes: int
    input_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.params_bytes + self.input_bytes + self.activation_bytes


@functools.lru_cache(maxsize=64)
def _per_image(name: str, img_size: int | None, attn_impl: str, overrides: tuple, grad: bool) -> tuple[int, int, int]:
    """(parameter count, input side, fp32 activation peak of one image) from a meta-device forward."""
    from swinprof.models import create_model

    model = create_model(name, img_size=img_size, attn_impl=attn_impl, device="meta", **dict(overrides)).eval()
    side = model.config.img_size
    x = torch.empty(1, model.config.in_chans, side, side, device="meta")
    with torch.enable_grad() if grad else torch.inference_mode(), TensorPeak() as meter:
        out = model(x)
        del out
    return sum(p.numel() for p in model.parameters()), side, meter.peak


def estimate_footprint(
    name: str,
    img_size: int | None = None,
    batch: int = 1,
    dtype: str = "fp32",
    attn_impl: str = "reference",
    overrides: dict | None = None,
    train: bool = False,
) -> Footprint:
    """Estimated memory of one forward (or, with `train`, one training step) of `batch` images.

    Implementations that cannot run on the meta device are estimated with `reference` (the paper's path, which
    materialises the most).
    """
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (overrides or {}).items()))
    try:
        params, side, peak = _per_image(name, img_size, attn_impl, key, train)
    except SwinprofError:
        raise
    except (RuntimeError, NotImplementedError, ValueError):  # e.g. FlexAttention refuses meta tensors
        params, side, peak = _per_image(name, img_size, "reference", key, train)
    item = torch.empty((), dtype=resolve_dtype(dtype)).element_size()
    copies = TRAIN_PARAM_COPIES if train else 1
    return Footprint(params * item * copies, batch * 3 * side * side * item, batch * peak * item // 4)
