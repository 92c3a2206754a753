import json

from swinprof.profile.grouping import swin_stages
from swinprof.profile.macs import count_costs
from swinprof.profile.ops import op_shape_table, op_table
from swinprof.profile.trace import STAGE_PREFIX, profile_forward

from .conftest import tiny_input, tiny_model


def test_op_tables_add_up_and_join_profiler_times(tmp_path):
    model, x = tiny_model(), tiny_input()
    stages = swin_stages(model)
    trace = count_costs(model, x, stages)
    profiled = profile_forward(model, x, stages, trace_path=tmp_path / "t.json")
    ops = op_table(trace, profiled).set_index("op")
    assert ops["MACs"].sum() == trace.total_macs
    assert ops.loc["aten.bmm", "count"] == 2 * sum(1 for _ in model.blocks())
    assert ops.loc["aten.addmm", "profiler calls"] == ops.loc["aten.addmm", "count"] > 0
    assert ops["time %"].sum() == __import__("pytest").approx(100.0)
    assert ops.loc["aten.linear", "count"] == 0 and ops.loc["aten.linear", "profiler calls"] > 0  # composite
    shapes = op_shape_table(trace)
    assert shapes["MACs"].sum() == trace.total_macs
    assert shapes.groupby("op")["count"].sum().to_dict() == trace.records.op.value_counts().to_dict()


def test_chrome_trace_has_one_range_per_stage(tmp_path):
    model, x = tiny_model("swinv2_t_w8"), tiny_input()
    stages = swin_stages(model)
    run = profile_forward(model, x, stages, trace_path=tmp_path / "trace.json")
    data = json.loads(run.trace_path.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    names = [e.get("name", "") for e in events]
    for stage in stages:
        spans = [e for e in events if e.get("name") == STAGE_PREFIX + stage.name]
        assert len(spans) == 1 and spans[0]["dur"] > 0
    assert any(n.startswith("aten::") for n in names)
    assert not list(tmp_path.glob("*.tmp"))
