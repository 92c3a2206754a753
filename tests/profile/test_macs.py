import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from swinprof.models import VARIANTS, create_model
from swinprof.profile.grouping import Stage, swin_stages
from swinprof.profile.layers import layer_summary
from swinprof.profile.macs import count_costs

from .conftest import tiny_input, tiny_model


def flop_counter_macs(model, x) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def test_total_matches_flop_counter_and_stages_add_up(tiny):
    model, x, stages = tiny
    trace = count_costs(model, x, stages)
    assert trace.total_macs == flop_counter_macs(model, x) > 0
    assert sum(s.macs for s in trace.stages) == trace.total_macs
    assert [s.name for s in trace.stages] == ["patch_embed", "stage1", "stage2", "stage3", "stage4", "norm+head"]
    assert sum(s.params for s in trace.stages) == sum(p.numel() for p in model.parameters())


def test_attention_matmuls_are_seen_and_attributed_to_blocks(tiny):
    model, x, stages = tiny
    trace = count_costs(model, x, stages)
    bmm = trace.records[trace.records.op == "aten.bmm"]
    n_blocks = sum(1 for _ in model.blocks())
    assert len(bmm) == 2 * n_blocks  # q @ k^T and probs @ v in every block
    assert bmm.module.str.match(r"layers\.\d\.blocks\.\d$").all()
    assert (bmm.macs > 0).all()


def test_meta_device_counts_the_same_as_real_tensors():
    real = count_costs(tiny_model(), tiny_input(), swin_stages(tiny_model()))
    meta_model = tiny_model(device="meta")
    meta = count_costs(meta_model, tiny_input(device="meta"), swin_stages(meta_model))
    assert meta.total_macs == real.total_macs
    assert [s.macs for s in meta.stages] == [s.macs for s in real.stages]
    assert [s.tensor_peak_bytes for s in meta.stages] == [s.tensor_peak_bytes for s in real.stages]
    assert meta.records.op.tolist() == real.records.op.tolist()


def test_batch_scales_macs_and_live_bytes():
    model = tiny_model(device="meta")
    one = count_costs(model, tiny_input(1, "meta"), swin_stages(model))
    four = count_costs(model, tiny_input(4, "meta"), swin_stages(model))
    assert four.total_macs == 4 * one.total_macs
    assert four.tensor_peak_bytes > 3 * one.tensor_peak_bytes


class TwoStep(nn.Module):
    """Not a Swin: a Linear, then a functional matmul a module-hook counter would miss."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16)

    def forward(self, x):
        h = self.fc(x)  # (B, T, 16)
        return h @ h.transpose(1, 2)  # (B, T, T)


def test_any_module_with_callable_stages():
    model = TwoStep()
    x = torch.randn(2, 5, 8)
    stages = [("fc", model.fc), Stage("gram", lambda h: h @ h.transpose(1, 2))]
    trace = count_costs(model, x, stages)
    fc_macs, gram_macs = 2 * 5 * 8 * 16, 2 * 5 * 5 * 16
    assert [s.macs for s in trace.stages] == [fc_macs, gram_macs]
    assert trace.stages[0].output_shape == (2, 5, 16)
    assert trace.stages[0].params == 8 * 16 + 16
    whole = count_costs(model, x)  # default grouping: the whole model as one stage
    assert whole.total_macs == fc_macs + gram_macs == flop_counter_macs(model, x)
    assert whole.macs_by("module").to_dict() == {"fc": fc_macs, "": gram_macs}


def test_live_bytes_exclude_views_and_count_allocations():
    model = nn.Identity()
    x = torch.randn(4, 256)

    def step(t):
        big = t * 2  # new 4 KiB tensor
        return big.view(-1)[:10]  # views: no new allocation, but keep `big` alive

    trace = count_costs(model, x, [Stage("s", step)])
    assert trace.stages[0].tensor_peak_bytes == 4 * 256 * 4
    assert trace.records.out_bytes.sum() == 4 * 256 * 4


@pytest.mark.fullsize
@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_matches_the_design_table(name):
    variant = VARIANTS[name]
    model = create_model(name, device="meta").eval()
    x = torch.empty(1, 3, variant.config.img_size, variant.config.img_size, device="meta")
    trace = count_costs(model, x, swin_stages(model))
    assert trace.total_macs / 1e9 == pytest.approx(variant.gmacs, rel=0.005)
    assert sum(s.macs for s in trace.stages) == trace.total_macs
    if name in ("swin_s", "swinv2_b_w16"):  # torchinfo's pass is slower; two variants cover v1 and v2
        summary = layer_summary(model, x, trace, depth=3)
        assert summary.frame["MACs (self)"].sum() == trace.total_macs
