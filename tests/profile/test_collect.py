import json

import torch
from torch import nn

from swinprof.profile.collect import ProfileOptions, profile_model
from swinprof.profile.grouping import Stage
from swinprof.report.document import Report
from swinprof.report.writer import report_json


class Tiny(nn.Module):
    """A model we did not write: conv stem, a functional attention-like matmul, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.head = nn.Linear(8, 5)

    def mix(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)  # (B, T, 8)
        return torch.softmax(t @ t.transpose(1, 2), -1) @ t

    def forward(self, x):
        return self.head(self.mix(x).mean(1))


def test_generic_model_report(tmp_path):
    model = Tiny().eval()
    x = torch.randn(2, 3, 16, 16)
    stages = [Stage("mix", model.mix, (model.stem,)), Stage("head", lambda t: model.head(t.mean(1)), (model.head,))]
    report = Report("tiny")
    opts = ProfileOptions(warmup=0, iters=2, depth=2, by_shape=True, peak_cache=tmp_path / "p.json")
    counted = profile_model(report, model, x, stages, opts)
    keys = [s.key for s in report.tables]
    expected = ["layers", "layers_totals", "stages", "ops", "ops_by_shape", "nn_ops"]
    assert keys == [*expected, "roofline_stages", "roofline_ops", "ceilings"]
    st = report.table("stages").frame
    assert st["stage"].tolist() == ["mix", "head", "total"]
    stem, attn, head = 2 * 16 * 8 * 48, 2 * 2 * 16 * 16 * 8, 2 * 8 * 5
    assert st["MACs"].tolist() == [stem + attn, head, stem + attn + head] == [*st["MACs"][:2], counted.trace.total_macs]
    assert report.table("layers").frame["MACs (self)"].sum() == counted.trace.total_macs
    assert st["median (ms)"].notna().all()
    json.loads(report_json(report))


def test_untimed_report_still_writes_a_trace(tmp_path):
    model = Tiny().eval()
    report = Report("tiny")
    opts = ProfileOptions(time_it=False, trace_path=tmp_path / "t.json")
    profile_model(report, model, torch.randn(1, 3, 16, 16), None, opts)
    assert report.table("stages").frame["median (ms)"].isna().all()
    assert (tmp_path / "t.json").exists() and report.settings["trace"] == str(tmp_path / "t.json")


def test_a_cached_peak_below_achieved_speed_is_reprobed(tmp_path, quiet_machine):
    from swinprof.measure import peaks

    cache = tmp_path / "p.json"
    key = peaks.compute_ceiling("cpu", torch.float32, cache, n=64).key.replace("n=64", f"n={peaks.PROBE_SIZE}")
    cache.write_text(json.dumps({key: {"value": 1e-9, "kind": "compute", "when": "2026-01-01"}}))
    model = Tiny().eval()
    report = Report("tiny")
    profile_model(report, model, torch.randn(1, 3, 16, 16), None, ProfileOptions(warmup=0, iters=1, peak_cache=cache))
    assert json.loads(cache.read_text())[key]["value"] > 1e-3
    assert "best of 3 probes" in " ".join(report.table("stages").notes)
