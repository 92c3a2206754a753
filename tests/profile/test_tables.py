import pytest
import torch

from swinprof.models.preprocess import EvalTransform
from swinprof.profile.crosscheck import fvcore_cross_check
from swinprof.profile.grouping import swin_stages
from swinprof.profile.info import model_info, preprocessing_table
from swinprof.profile.macs import count_costs
from swinprof.profile.nnops import nn_op_table

from .conftest import tiny_input, tiny_model


def test_nn_op_table_lists_distinct_configurations():
    model = tiny_model()
    trace = count_costs(model, tiny_input(), swin_stages(model))
    df = nn_op_table(model, trace.modules_called).set_index("type")
    assert df.loc["Conv2d", "configurations"] == "(3, 32, kernel_size=(4, 4), stride=(4, 4))"
    # LayerNorm on 32, 64, 128, 256 channels and the v1 patch-merging norms on 4C (128, 256, 512)
    assert df.loc["LayerNorm", "distinct"] == 5
    assert df.loc["LayerNorm", "configurations"].startswith("((32,), eps=1e-05); ((128,), eps=1e-05)")
    assert df.loc["Linear", "modules"] == sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert df.loc["Linear", "calls"] == df.loc["Linear", "modules"]
    assert df.loc["DropPath", "distinct"] == 5  # one drop rate per block (linspace 0 .. 0.1)
    # the attention function uses each block's WindowAttention without entering it: counted once per block call
    assert df.loc["WindowAttention", "calls"] == df.loc["SwinBlock", "calls"] == 5


def test_long_config_lists_are_shortened():
    layers = torch.nn.Sequential(*[torch.nn.Linear(i + 1, 2) for i in range(12)])
    row = nn_op_table(layers).set_index("type").loc["Linear"]
    assert row["distinct"] == 12 and "(12 distinct)" in row["configurations"]
    assert row["configurations"].startswith("(in_features=1,") and "in_features=12," in row["configurations"]


@pytest.mark.parametrize(("res", "crop", "resize"), [(224, 0.9, 248), (384, 1.0, 384), (256, 0.9, 284)])
def test_preprocessing(res, crop, resize):
    df = preprocessing_table(EvalTransform(res, crop))
    assert df["step"].tolist() == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    assert f"to {resize} (bicubic)" in df.loc[0, "parameters"] and "0.485" in df.loc[3, "parameters"]


def test_model_info_is_per_image():
    model = tiny_model()
    one = count_costs(model, tiny_input(1), swin_stages(model))
    three = count_costs(model, tiny_input(3), swin_stages(model))
    a = model_info(model, one, 1, "tiny", "64x64", acc1=80.0)
    b = model_info(model, three, 3, "tiny", "64x64")
    assert a.gmacs == pytest.approx(b.gmacs) and a.gflops == pytest.approx(2 * a.gmacs)
    assert a.params == sum(p.numel() for p in model.parameters())
    row = a.frame().iloc[0]
    assert row["acc@1"] == 80.0 and row["acc@5"] is None


def test_fvcore_agrees_on_matmul_work():
    pytest.importorskip("fvcore")
    model, x = tiny_model(), tiny_input()
    trace = count_costs(model, x, swin_stages(model))
    check = fvcore_cross_check(model, x, trace)
    # Two independent counters: fvcore's linear/matmul/conv part equals our aten total exactly;
    # the difference is only what fvcore assigns to layer norms.
    assert check.fvcore_matmul == check.ours
    assert set(check.fvcore_other) == {"layer_norm"}
    assert check.fvcore == check.ours + check.fvcore_other["layer_norm"]
    assert "layer_norm" in check.explanation and "fvcore" in check.explanation
