import pytest

from swinprof.profile.layers import layer_summary
from swinprof.profile.macs import count_costs


@pytest.mark.parametrize("depth", [1, 4])
def test_mult_adds_add_up_at_every_depth(tiny, depth):
    model, x, stages = tiny
    trace = count_costs(model, x, stages)
    summary = layer_summary(model, x, trace, depth=depth)
    df = summary.frame
    assert df["MACs (self)"].sum() == trace.total_macs == summary.total_macs
    assert df.loc[0, "module"] == "(root)" and df.loc[0, "MACs (total)"] == trace.total_macs
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    # torchinfo's hook count misses the attention matmuls and the token dimension of Linear
    assert summary.torchinfo_macs < trace.total_macs
    depths = df["Layer (type:depth-idx)"].str.extract(r": (\d+)-")[0].astype(int)
    assert depths.max() <= depth


def test_block_rows_hold_their_attention_matmuls(tiny):
    model, x, stages = tiny
    trace = count_costs(model, x, stages)
    df = layer_summary(model, x, trace, depth=6).frame.set_index("module")
    block = "layers.0.blocks.0"
    # proj / mlp linears are child rows; the q@k^T and probs@v matmuls (and v2's functional qkv linear,
    # which adds the q/v biases) run in the block itself
    own = trace.records[trace.records.module == block]
    assert own[own.op == "aten.bmm"].macs.sum() > 0
    assert df.loc[block, "MACs (self)"] == own.macs.sum()
    children = df.index[df.index.str.startswith(block + ".")]
    assert df.loc[block, "MACs (total)"] == df.loc[block, "MACs (self)"] + df.loc[children, "MACs (self)"].sum()


def test_footer_matches_torchinfo_units(tiny):
    model, x, stages = tiny
    summary = layer_summary(model, x, count_costs(model, x, stages), depth=2)
    assert summary.input_mb == pytest.approx(x.numel() * 4 / 1e6, rel=1e-2)  # torchinfo adds object overhead
    assert summary.params_mb == summary.total_params * 4 / 1e6
    footer = summary.footer().set_index("total")["value"]
    assert footer["Total params"] == summary.total_params
