"""Checkpoints: round trips, official/timm/torchvision fixtures, safetensors, clear errors, table resizing."""

from __future__ import annotations

import re

import pytest
import torch

from swinprof.errors import CheckpointError, DataPathError
from swinprof.models.checkpoint import (
    detect_layout,
    load_checkpoint,
    read_state_dict,
    resize_bias_table,
    save_checkpoint,
)
from swinprof.models.windows import relative_position_index, shift_mask
from tests.conftest import tiny_model

X = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))


def _logits(model):
    with torch.inference_mode():
        return model(X)


# -- fixtures in foreign layouts, written the way those projects save them -------------------------------


def official_layout(model) -> dict:
    """As microsoft/Swin-Transformer saves: {'model': sd} with its persistent index/mask/coords buffers."""
    sd = dict(model.state_dict())
    for name, block in ((n, m) for n, m in model.named_modules() if n.count(".") == 3 and "blocks" in n):
        sd[f"{name}.attn.relative_position_index"] = relative_position_index(block.window)
        if any(block.shift):
            sd[f"{name}.attn_mask"] = shift_mask((32, 32), block.window, block.shift, "cpu")
        if block.version == 2:
            sd[f"{name}.attn.relative_coords_table"] = block.attn.relative_coords_table[None]
    return {"model": sd, "optimizer": {}, "epoch": 300}


def timm_layout(model) -> dict:
    """timm >= 0.9: head.fc, and patch merging at the start of the next stage."""
    out = {}
    for key, value in model.state_dict().items():
        key = re.sub(r"^head\.", "head.fc.", key)
        m = re.match(r"^layers\.(\d+)\.downsample\.(.*)$", key)
        if m:
            key = f"layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}"
        out[key] = value
    return out


def torchvision_layout(model) -> dict:
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("patch_embed.proj."):
            key = "features.0.0." + key.split(".")[-1]
        elif key.startswith("patch_embed.norm."):
            key = "features.0.2." + key.split(".")[-1]
        elif m := re.match(r"^layers\.(\d+)\.downsample\.(.*)$", key):
            key = f"features.{2 * int(m.group(1)) + 2}.{m.group(2)}"
        elif m := re.match(r"^layers\.(\d+)\.blocks\.(\d+)\.(.*)$", key):
            inner = m.group(3).replace("mlp.fc1.", "mlp.0.").replace("mlp.fc2.", "mlp.3.")
            if inner in ("attn.q_bias", "attn.v_bias"):
                continue
            key = f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.{inner}"
            if inner == "attn.qkv.weight" and model.config.version == 2:
                prefix = f"layers.{m.group(1)}.blocks.{m.group(2)}.attn."
                q, v = model.state_dict()[prefix + "q_bias"], model.state_dict()[prefix + "v_bias"]
                out[key.replace("weight", "bias")] = torch.cat([q, torch.zeros_like(q), v])
        out[key] = value
    return out


# -- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_round_trip(tiny, tmp_path, suffix):
    path = tmp_path / f"ckpt{suffix}"
    save_checkpoint(tiny, path)
    fresh = tiny_model((tiny.config.version == 1 and "swin_t") or "swinv2_t_w8", seed=123)
    assert not torch.allclose(_logits(fresh), _logits(tiny))
    load_checkpoint(fresh, path)
    assert torch.equal(_logits(fresh), _logits(tiny))


@pytest.mark.parametrize("layout_fn,expected", [(official_layout, "official"), (timm_layout, "timm"),
                                                (torchvision_layout, "torchvision")])  # fmt: skip
def test_foreign_layouts_load_and_match(tiny, tmp_path, layout_fn, expected):
    saved = layout_fn(tiny)
    sd = saved.get("model", saved)
    assert detect_layout(sd) == expected
    path = tmp_path / "foreign.pth"
    torch.save(saved, path)
    fresh = tiny_model((tiny.config.version == 1 and "swin_t") or "swinv2_t_w8", seed=7)
    load_checkpoint(fresh, path)
    assert torch.equal(_logits(fresh), _logits(tiny))


def test_ddp_prefix_is_stripped(tmp_path):
    model = tiny_model()
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ddp.pth")
    assert set(read_state_dict(tmp_path / "ddp.pth")) == set(model.state_dict())


# -- errors ----------------------------------------------------------------------------------------------------


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    model = tiny_model()
    sd = dict(model.state_dict())
    del sd["head.weight"]
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"1 missing: head\.weight; 1 unexpected: extra\.weight"):
        load_checkpoint(model, tmp_path / "bad.pth")


def test_shape_mismatch_names_the_key(tmp_path):
    save_checkpoint(tiny_model(num_classes=10), tmp_path / "c10.pth")
    with pytest.raises(CheckpointError, match=r"shape mismatch: head\.weight \(10, 256\) vs model \(7, 256\)"):
        load_checkpoint(tiny_model(num_classes=7), tmp_path / "c10.pth")


def test_wrong_variant_is_a_clear_error(tmp_path):
    save_checkpoint(tiny_model("swin_t"), tmp_path / "v1.pth")
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_checkpoint(tiny_model("swinv2_t_w8"), tmp_path / "v1.pth")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_files_are_rejected(tmp_path, content):
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "x.pth")
    (tmp_path / "x.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        read_state_dict(tmp_path / "x.safetensors")


class _Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_arbitrary_pickles_are_refused(tmp_path, capsys):
    torch.save({"model": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        read_state_dict(tmp_path / "evil.pth")
    assert "arbitrary code ran" not in capsys.readouterr().out


def test_non_state_dict_and_missing_file(tmp_path):
    torch.save({"epoch": 3, "note": "no tensors"}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError, match="contains no tensors"):
        read_state_dict(tmp_path / "meta.pth")
    with pytest.raises(DataPathError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pth")


# -- window resizing --------------------------------------------------------------------------------------------


def test_bias_tables_resize_to_another_window(tmp_path):
    small = tiny_model(img_size=256, window_size=4)
    save_checkpoint(small, tmp_path / "w4.pth")
    big = tiny_model(img_size=256, window_size=8, seed=3)
    load_checkpoint(big, tmp_path / "w4.pth")
    table = big.layers[0].blocks[0].attn.relative_position_bias_table
    assert table.shape == (15 * 15, 1)
    # the other weights came across unchanged
    assert torch.equal(big.head.weight, small.head.weight)
    assert torch.isfinite(big(torch.randn(1, 3, 256, 256))).all()


def test_resize_to_same_window_is_identity_and_preserves_a_constant_table():
    table = torch.randn(49, 3)
    assert torch.allclose(resize_bias_table(table, (4, 4)), table, atol=1e-6)
    const = torch.full((49, 2), 0.5)
    assert torch.allclose(resize_bias_table(const, (7, 7)), torch.full((169, 2), 0.5), atol=1e-5)
