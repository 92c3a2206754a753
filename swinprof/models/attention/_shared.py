"""Helpers shared by the non-reference implementations: cached bias+mask tensors, gather indices, SDPA core.

Nothing here registers an implementation; `reference.py` stays self-contained as the documented baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from swinprof.models.cache import as_model_state, geometry_cache, is_tracing
from swinprof.models.windows import Pair, shift_mask, window_partition

_CACHE_ATTR = "_swinprof_mask_cache"


def _bias_sources(attn) -> tuple[torch.Tensor, ...]:
    """The tensors `attn.position_bias()` is computed from (its cache must follow them)."""
    if attn.version == 1:
        return (attn.relative_position_bias_table, attn.relative_position_index)
    return (*attn.cpb_mlp.parameters(), attn.relative_coords_table, attn.relative_position_index)


def _fold(attn, hw: Pair, window: Pair, shift: Pair, device: torch.device) -> torch.Tensor:
    bias = attn.position_bias().unsqueeze(0)  # (1, heads, N, N)
    if any(shift):
        bias = bias + shift_mask(hw, window, shift, device)[:, None].to(bias.dtype)  # (nW, heads, N, N)
    return bias


def folded_bias_mask(attn, hw: Pair, window: Pair, shift: Pair, dtype: torch.dtype) -> torch.Tensor:
    """Relative-position bias plus the -100 shift mask as one additive tensor.

    Returns `(nW, heads, N, N)` for a shifted block and `(1, heads, N, N)` for a regular one. When autograd
    is recording and the bias parameters require grad it is recomputed every call so gradients reach the
    bias table / cpb MLP. Otherwise (eval, `no_grad`, `inference_mode`) it is cached on `attn`, keyed by the
    geometry and the identity and in-place version counter of every tensor it depends on, so
    `load_state_dict`, an optimizer step or `.to()` invalidate it. Never cached while tracing (the rule of
    `models.cache.geometry_cache`): the parameters are fake or symbolic there.
    """
    sources = _bias_sources(attn)
    device = sources[0].device
    if is_tracing(hw) or (torch.is_grad_enabled() and any(t.requires_grad for t in sources)):
        return _fold(attn, hw, window, shift, device).to(dtype)
    try:
        versions = tuple((id(t), t._version) for t in sources)
    except RuntimeError:  # inference tensors carry no version counter: do not cache what we cannot validate
        return _fold(attn, hw, window, shift, device).to(dtype)
    key = (tuple(hw), tuple(window), tuple(shift), str(device), dtype, torch.is_inference_mode_enabled())
    cache = attn.__dict__.setdefault(_CACHE_ATTR, {})
    hit = cache.get(key)
    if hit is not None and hit[0] == versions:
        return hit[1]
    with as_model_state():  # like a geometry cache: state of the module, not cost of this call
        mask = _fold(attn, hw, window, shift, device).to(dtype).contiguous()
    cache[key] = (versions, mask)
    return mask


@geometry_cache()
def _window_order_cached(hw: Pair, window: Pair, shift: Pair, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = hw
    flat = torch.arange(h * w, device=device).view(1, h, w, 1)
    if any(shift):
        flat = torch.roll(flat, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    order = window_partition(flat, window).reshape(-1)  # window-order position -> row-major token index
    return order, torch.argsort(order)


def window_order(hw: Pair, window: Pair, shift: Pair, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """`(order, inverse)`, each `(H*W,)` long, cached per geometry.

    `x.flatten(1, 2)[:, order]` is `roll(x, -shift)` partitioned into windows (the reference's token
    order); `y[:, inverse]` undoes it (merge + reverse roll).
    """
    return _window_order_cached(tuple(hw), tuple(window), tuple(shift), str(torch.device(device)))


def scaled_qk_for_sdpa(attn, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """`(q, k, scale)` for SDPA. v1 passes its 1/sqrt(d) as `scale` (no extra pass over q); v2 L2-normalises
    q and k and multiplies q by the per-head logit scale, so `scale=1`."""
    if attn.version == 1:
        return q, k, attn.scale
    q, k = attn.scaled_qk(q, k)
    return q, k, 1.0


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """`F.scaled_dot_product_attention` with the block's attention dropout (active only in training)."""
    drop = getattr(attn.attn_drop, "p", 0.0) if attn.attn_drop.training else 0.0
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, scale=scale)


def sdpa_windows(windows: torch.Tensor, attn, mask: torch.Tensor, batch: int) -> torch.Tensor:
    """Window attention through `F.scaled_dot_product_attention`, output projection included.

    `windows` `(B*nW, N, C)` in the reference's window order, `mask` `(nW or 1, heads, N, N)` from
    `folded_bias_mask` -> `(B*nW, N, C)`. A regular block runs on the strided `(B*nW, heads, N, hd)` views
    `qkv_heads` returns, with a `(1, heads, N, N)` mask. A shifted block's mask differs per window, and
    SDPA only broadcasts size-1 mask dims, so q/k/v are copied to `(B, nW*heads, N, hd)` and the mask is
    viewed as `(1, nW*heads, N, N)`.
    """
    bw, n, _ = windows.shape
    heads, hd = attn.num_heads, attn.head_dim
    q, k, v = attn.qkv_heads(windows)
    q, k, scale = scaled_qk_for_sdpa(attn, q, k)
    if mask.shape[0] > 1:
        q, k, v = (t.reshape(batch, (bw // batch) * heads, n, hd) for t in (q, k, v))
        mask = mask.reshape(1, -1, n, n)
    out = merge_heads(sdpa(q, k, v, attn, mask, scale), bw, heads)
    return attn.proj_drop(attn.proj(out))


def merge_heads(out: torch.Tensor, windows: int, heads: int) -> torch.Tensor:
    """SDPA's output `(B, nW*heads, N, hd)` or `(B*nW, heads, N, hd)` -> `(B*nW, N, heads*hd)`.

    `reshape`, not `view`: CUDA's fused kernels return the output in `(B, N, nW*heads, hd)` memory order, where
    splitting the window dim off the head dim is not a view (an H200 run failed on exactly that).
    """
    n, hd = out.shape[-2:]
    return out.reshape(windows, heads, n, hd).transpose(1, 2).reshape(windows, n, heads * hd)
