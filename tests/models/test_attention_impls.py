"""Every attention implementation against `reference`: outputs and gradients, v1 and v2, shifted and
regular blocks, square / non-square / padded maps (fp32, max abs 1e-5), plus whole-model swaps."""

from __future__ import annotations

import pytest
import torch

from swinprof.errors import DeviceUnavailableError
from swinprof.models import create_model
from swinprof.models.attention import available_attention, chunked_attention, unavailable_reason
from swinprof.models.blocks import SwinBlock

TOL = 1e-5


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """max |a - b| <= 1e-5, scaled by max |b| where that exceeds 1: weight gradients sum over every token
    and reach tens, where fp32 summation order alone moves the last bits by ~1e-6 relative."""
    return bool((a - b).abs().max() <= TOL * max(1.0, b.abs().max().item()))


# Every registered implementation but `reference` itself: a new one is checked without editing a list.
OTHER_IMPLS = [impl for impl in available_attention() if impl != "reference"]

# (map height, width, window, shift): square, non-square, padded (not window multiples), window 7.
GEOMETRIES = {
    "square": (8, 8, 4, 2),
    "nonsquare": (8, 12, 4, 2),
    "padded": (10, 14, 4, 2),
    "w7-padded": (15, 17, 7, 3),
}


def _block(version: int, window: int, shift: int, seed: int = 0) -> SwinBlock:
    """A seeded block with non-trivial position bias / logit scale (init would make some terms zero)."""
    torch.manual_seed(seed)
    block = SwinBlock(dim=16, num_heads=2, window=(window, window), shift=(shift, shift), version=version)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return block.double().float()  # plain fp32 params


def _attend(block: SwinBlock, impl: str, x: torch.Tensor, grad_out: torch.Tensor):
    """Output and gradients (input, every parameter) of the block's windowed attention under `impl`; an
    implementation that cannot run a backward here says why (DeviceUnavailableError) and the test is skipped
    with that reason (flex on CPU: its forward is checked by `test_forward_matches_reference_v1_and_v2`)."""
    block.attn_impl = impl
    x = x.clone().requires_grad_(True)
    try:
        out = block.window_attention(x)
    except DeviceUnavailableError as exc:
        pytest.skip(f"{impl}: {exc}")
    params = [p for p in block.parameters() if p.requires_grad]
    grads = torch.autograd.grad((out * grad_out).sum(), [x, *params], allow_unused=True)
    return out.detach(), grads


@pytest.mark.parametrize("impl", OTHER_IMPLS)
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("shifted", [True, False], ids=["shifted", "regular"])
@pytest.mark.parametrize("batch", [2, 1], ids=["b2", "b1"])  # fused plans batch 1 apart (one SDPA call)
def test_outputs_and_gradients_match_reference(impl, version, geometry, shifted, batch):
    h, w, window, shift = GEOMETRIES[geometry]
    block = _block(version, window, shift if shifted else 0)
    torch.manual_seed(1)
    x = torch.randn(batch, h, w, 16)
    grad_out = torch.randn(batch, h, w, 16)
    ref_out, ref_grads = _attend(block, "reference", x, grad_out)
    out, grads = _attend(block, impl, x, grad_out)
    assert (out - ref_out).abs().max() <= TOL
    names = ["input"] + [n for n, p in block.named_parameters() if p.requires_grad]
    for name, g, rg in zip(names, grads, ref_grads):
        if rg is None:  # a parameter outside the attention path (norms, MLP)
            assert g is None, name
            continue
        assert _close(g, rg), f"{impl} v{version} {geometry}: gradient of {name} differs"


def _unmasked_rolled(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """The shifted block WITHOUT its region mask: what a wrong implementation would compute."""
    from swinprof.models.attention.reference import attend_windows
    from swinprof.models.windows import window_partition, window_reverse

    s, win = block.shift, block.window
    rolled = torch.roll(x, shifts=(-s[0], -s[1]), dims=(1, 2))
    out = window_reverse(attend_windows(window_partition(rolled, win), block.attn, None, 2), win, x.shape[1:3])
    return torch.roll(out, shifts=s, dims=(1, 2))


def test_geometries_exercise_the_shift_mask():
    """Guard for the tests above: dropping the mask changes the output far beyond the tolerance."""
    block = _block(1, 4, 2)
    x = torch.randn(2, 8, 12, 16)
    with torch.no_grad():
        assert (_unmasked_rolled(block, x) - block.window_attention(x)).abs().max() > 1e-2


def _tiny(name: str, seed: int, **overrides) -> torch.nn.Module:
    """Tiny model whose stages pad (stage 1 at 64x96 input: 16x24 map, window 7 -> 21x28) and clamp."""
    torch.manual_seed(seed)
    arch = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=7, num_classes=10)
    model = create_model(name, img_size=64, **arch, **overrides)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def _eager_impls() -> list[str]:
    """The implementations that run a training step (forward and backward) here without compiling: every
    registered one but those that compile their kernel (chunks=False: flex, checked once in its slow test)."""
    runs = [impl for impl in chunked_attention() if unavailable_reason(impl, "cpu", torch.float32) is None]
    return [impl for impl in runs if impl != "reference"]


@pytest.mark.parametrize("name", ["swin_t", "swinv2_t_w8"], ids=["v1", "v2"])
def test_swapping_impl_on_loaded_weights_keeps_logits(name):
    model = _tiny(name, seed=0)
    model.load_state_dict(_tiny(name, seed=1).state_dict())  # weights arrive after the model was built
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        ref = model(x)
        for impl in _eager_impls():
            assert (model.set_attn_impl(impl)(x) - ref).abs().max() <= 1e-4, impl


def test_cached_masks_follow_new_weights():
    """sdpa/fused cache bias+mask in eval; loading other weights must invalidate that cache."""
    model, other = _tiny("swin_t", 0), _tiny("swin_t", 1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for impl in ("sdpa", "fused"):
            model.set_attn_impl(impl)(x)  # fills the cache with seed-0 biases
        model.load_state_dict(other.state_dict())
        expected = other(x)
        for impl in ("sdpa", "fused"):
            assert (model.set_attn_impl(impl)(x) - expected).abs().max() <= 1e-4, impl


def test_training_step_gradients_match_through_the_model():
    """Whole-model backward in train mode (stochastic depth off so runs are comparable): each = reference."""
    model = _tiny("swinv2_t_w8", 0, drop_path_rate=0.0).train()
    x = torch.randn(2, 3, 64, 96)
    grads = {}
    for impl in ("reference", *_eager_impls()):
        model.zero_grad()
        model.set_attn_impl(impl)(x).square().sum().backward()
        grads[impl] = [p.grad.clone() for p in model.parameters()]
    for impl in _eager_impls():
        worst = max((a - b).abs().max().item() for a, b in zip(grads[impl], grads["reference"]))
        assert worst <= 1e-4, impl


@pytest.mark.slow  # flex compiles per geometry
@pytest.mark.parametrize("impl", OTHER_IMPLS)
def test_forward_matches_reference_v1_and_v2(impl):
    """One padded shifted geometry, forward only (no gradients): covers an implementation without a backward
    here (flex on CPU) wherever it runs its forward."""
    reason = unavailable_reason(impl, "cpu", torch.float32)
    if reason:
        pytest.skip(f"{impl}: {reason}")
    torch.manual_seed(2)
    x = torch.randn(2, 10, 14, 16)
    for version in (1, 2):
        block = _block(version, 4, 2)
        with torch.no_grad():
            ref = block.window_attention(x)
            block.attn_impl = impl
            assert (block.window_attention(x) - ref).abs().max() <= TOL, f"{impl} v{version}"


def test_flex_refuses_cpu_backward_clearly():
    block = _block(1, 4, 2)
    block.attn_impl = "flex"
    with pytest.raises(DeviceUnavailableError, match="no backward on CPU"):
        block.window_attention(torch.randn(1, 8, 8, 16, requires_grad=True))


def test_every_impl_is_registered_and_runs_here():
    assert set(available_attention()) >= {"reference", "naive", "sdpa", "flex", "fused"}
    for impl in ("reference", "naive", "sdpa", "fused"):
        assert unavailable_reason(impl, "cpu", torch.float32) is None


FUSED_GEOMETRIES = [((8, 8), (4, 4), (2, 2)), ((21, 28), (7, 7), (3, 3)), ((8, 12), (4, 4), (0, 0))]


@pytest.mark.parametrize("hw, window, shift", FUSED_GEOMETRIES)
def test_fused_groups_share_one_mask_pattern(hw, window, shift):
    """fused's window groups come from the geometry ints: each holds windows whose shift masks are identical."""
    from swinprof.models.attention.fused import window_groups
    from swinprof.models.windows import shift_mask

    masks = shift_mask(hw, window, shift, "cpu").view(hw[0] // window[0], hw[1] // window[1], -1)
    seen = 0
    for r0, r1, c0, c1 in window_groups(hw, window, shift):
        group = masks[r0:r1, c0:c1].flatten(0, 1)
        assert (group == group[:1]).all()
        seen += group.shape[0]
    assert seen == masks.shape[0] * masks.shape[1]


def test_sdpa_output_in_cuda_kernels_memory_order_merges_like_a_contiguous_one():
    """CUDA's fused SDPA kernels return `(B, nW*heads, N, hd)` laid out as `(B, N, nW*heads, hd)`; merging heads
    must not assume a contiguous output (an H200 selfcheck failed with `view size is not compatible`)."""
    from swinprof.models.attention._shared import merge_heads

    batch, windows_per_image, heads, n, hd = 2, 4, 3, 49, 32
    torch.manual_seed(0)
    physical = torch.randn(batch, n, windows_per_image * heads, hd)
    as_cuda_returns = physical.transpose(1, 2)  # (B, nW*heads, N, hd), not contiguous
    assert not as_cuda_returns.is_contiguous()
    merged = merge_heads(as_cuda_returns, batch * windows_per_image, heads)
    expected = merge_heads(as_cuda_returns.contiguous(), batch * windows_per_image, heads)
    assert merged.shape == (batch * windows_per_image, n, heads * hd)
    assert torch.equal(merged, expected)
