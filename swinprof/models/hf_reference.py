"""An independent reference: Hugging Face transformers' Swin / Swinv2, loaded with our weights.

We did not write that implementation; the only code here renames our official-layout state dict into
transformers' layout (for the equivalence tests and the side-by-side speed comparison).
Needs the `reference` extra (`pip install 'swinprof[reference]'`).
"""

from __future__ import annotations

import re

import torch

from swinprof.errors import require_extra
from swinprof.models.config import SwinConfig


def hf_model_for(config: SwinConfig):
    """A transformers image classifier with the same architecture as `config`."""
    transformers = require_extra("transformers", "reference", "the reference implementation")

    common = dict(
        image_size=config.img_size,
        patch_size=config.patch_size,
        num_channels=config.in_chans,
        embed_dim=config.embed_dim,
        depths=list(config.depths),
        num_heads=list(config.num_heads),
        window_size=config.window_size,
        mlp_ratio=config.mlp_ratio,
        qkv_bias=config.qkv_bias,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=0.0,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        num_labels=config.num_classes,
    )
    if config.version == 1:
        model = transformers.SwinForImageClassification(transformers.SwinConfig(**common))
    else:
        hf_config = transformers.Swinv2Config(**common, pretrained_window_sizes=list(config.pretrained_window_sizes))
        model = transformers.Swinv2ForImageClassification(hf_config)
    return model.eval()


# transformers 5.x names: its Swin (v1) was refactored to q/k/v/o_proj, its Swinv2 keeps the BERT-style names.
_BLOCK_V1 = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "attn.proj": "attention.o_proj",
    "attn.relative_position_bias_table": "attention.relative_position_bias.relative_position_bias_table",
}
_QKV_V1 = ("attention.q_proj", "attention.k_proj", "attention.v_proj")
_BLOCK_V2 = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "attn.proj": "attention.output.dense",
    "attn.logit_scale": "attention.self.logit_scale",
    "attn.cpb_mlp": "attention.self.continuous_position_bias_mlp",
}
_QKV_V2 = ("attention.self.query", "attention.self.key", "attention.self.value")


def to_hf_state_dict(state_dict: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
    """Rename our (official-layout) tensors to transformers' names, splitting fused qkv."""
    root = "swin" if version == 1 else "swinv2"
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("patch_embed.proj."):
            out[f"{root}.embeddings.patch_embeddings.projection." + key.split(".")[-1]] = value
        elif key.startswith("patch_embed.norm."):
            out[f"{root}.embeddings.norm." + key.split(".")[-1]] = value
        elif key.startswith("norm."):
            out[f"{root}.layernorm." + key.split(".")[-1]] = value
        elif key.startswith("head."):
            out["classifier." + key.split(".")[-1]] = value
        elif ".downsample." in key:
            out[f"{root}.encoder." + key] = value
        else:
            m = re.match(r"^(layers\.\d+\.blocks\.\d+)\.(.*)$", key)
            prefix, inner = f"{root}.encoder.{m.group(1)}", m.group(2)
            _block_tensor(out, prefix, inner, value, version)
    return out


def _block_tensor(out, prefix, inner, value, version):
    qkv_names = _QKV_V1 if version == 1 else _QKV_V2
    if inner.startswith("attn.qkv."):
        kind = inner.split(".")[-1]
        for name, part in zip(qkv_names, value.chunk(3, dim=0)):
            out[f"{prefix}.{name}.{kind}"] = part
        return
    if inner in ("attn.q_bias", "attn.v_bias"):
        name = qkv_names[0] if inner == "attn.q_bias" else qkv_names[2]
        out[f"{prefix}.{name}.bias"] = value
        return
    for ours, theirs in (_BLOCK_V1 if version == 1 else _BLOCK_V2).items():
        if inner.startswith(ours + "."):
            out[f"{prefix}.{theirs}{inner.removeprefix(ours)}"] = value
            return
        if inner == ours:
            out[f"{prefix}.{theirs}"] = value
            return
    raise KeyError(f"no transformers name for {prefix}.{inner}")


def load_into_hf(hf_model, state_dict: dict[str, torch.Tensor], version: int) -> None:
    converted = to_hf_state_dict(state_dict, version)
    missing, unexpected = hf_model.load_state_dict(converted, strict=False)
    # transformers keeps relative_position_index / relative_coords_table as buffers it recomputes.
    missing = [k for k in missing if not k.endswith(("relative_position_index", "relative_coords_table"))]
    if missing or unexpected:
        raise RuntimeError(f"transformers layout changed: missing {missing[:5]}, unexpected {unexpected[:5]}")
