import io
import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from swinprof.errors import DataPathError
from swinprof.report.chart import latency_vs_macs_svg
from swinprof.report.document import Chart, Report
from swinprof.report.html import to_html
from swinprof.report.writer import publish, render, report_markdown, write_report


def sample_report() -> Report:
    stages = pd.DataFrame(
        {
            "stage": ["a|b", "c", "total"],
            "MACs": [123_456_789_012, 7, 123_456_789_019],
            "MACs %": [99.99999999433, 5.67e-9, 100.0],
            "median (ms)": [1.2345678901234, float("nan"), 1.5],
            "time %": [80.0, 20.0, 100.0],
        }
    )
    report = Report("profile <x>", settings={"variant": "swin_s", "batch": 1}, environment={"torch": "2.13.0"})
    report.add("stages", "Per stage", stages, "a note")
    report.add("info", "Info", pd.DataFrame([{"name": "Swin-S", "acc@5": None, "params": 49_606_258}]))
    report.add("text_only", "Just a line", notes="fvcore not run")
    return report


def test_json_and_csv_parse_back_to_the_same_numbers(tmp_path):
    report = sample_report()
    paths = write_report(report, tmp_path / "out", "p")
    names = sorted(p.name for p in paths)
    assert names == ["p.html", "p.json", "p.md", "p_info.csv", "p_stages.csv"]
    data = json.loads((tmp_path / "out" / "p.json").read_text())
    assert data["settings"] == {"variant": "swin_s", "batch": 1} and data["environment"] == {"torch": "2.13.0"}
    for section in data["tables"]:
        original = report.table(section["key"]).frame
        if original is None:
            assert section["rows"] == [] and section["notes"] == ["fvcore not run"]
            continue
        expected = original.astype({c: float for c in original.columns if original[c].isna().all()})
        back = pd.DataFrame(section["rows"], columns=section["columns"]).astype(expected.dtypes.to_dict())
        pd.testing.assert_frame_equal(back, expected, check_exact=True)  # json keeps every digit
        csv_back = pd.read_csv(tmp_path / "out" / f"p_{section['key']}.csv")
        pd.testing.assert_frame_equal(csv_back, expected, check_dtype=False, check_exact=True)
    stages = pd.read_csv(tmp_path / "out" / "p_stages.csv")
    assert stages["MACs"].iloc[:-1].sum() == stages["MACs"].iloc[-1]  # integers stay exact
    assert math.isnan(stages["median (ms)"].iloc[1])


def test_markdown_is_a_table_per_section():
    text = report_markdown(sample_report())
    lines = text.splitlines()
    header = lines.index("| stage | MACs | MACs % | median (ms) | time % |")
    assert lines[header + 1] == "|---|---|---|---|---|"
    rows = lines[header + 2 : header + 5]
    assert all(r.startswith("| ") and r.endswith(" |") for r in rows)
    assert rows[0].startswith("| a\\|b | 123,456,789,012 |")  # pipes escaped, cell count intact
    assert all(r.replace("\\|", "").count("|") == 6 for r in rows)
    assert "## Just a line" in text and "fvcore not run" in text


def test_html_is_self_contained_with_inline_chart():
    report = sample_report()
    report.charts.append(Chart("stages", "MACs vs time", lambda: latency_vs_macs_svg(report.table("stages").frame)))
    html = to_html(report)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<svg" in html and "<?xml" not in html
    assert "src=" not in html and "<link" not in html  # nothing external to fetch
    assert "profile &lt;x&gt;" in html and "<table>" in html and 'id="environment"' in html


def test_csv_render_and_unknown_format():
    assert render(sample_report(), "csv").startswith("# stages\nstage,MACs")
    with pytest.raises(ValueError):
        render(sample_report(), "xml")


def test_unwritable_output_dir_writes_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataPathError):
        write_report(sample_report(), blocker / "sub", "p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_failed_write_leaves_the_previous_report_and_no_staging_folder(tmp_path, monkeypatch):
    """All files are staged first: a failure while staging (a full disk) leaves the folder as it was."""
    out = tmp_path / "out"
    first = write_report(sample_report(), out, "p")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    changed = sample_report()
    changed.title = "second run"
    real_write = Path.write_bytes
    calls = []

    def full_disk(self, data):
        calls.append(self.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(DataPathError, match="No space left"):
        write_report(changed, out, "p")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and len(first) == len(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind


def test_hidden_columns_reach_json_and_csv_but_not_markdown():
    report = Report("r")
    report.add("mem", "Memory", pd.DataFrame({"tensor_peak_bytes": [2**20], "tensor peak (MiB)": [1.0]}),
               hidden=("tensor_peak_bytes",))  # fmt: skip
    assert "tensor_peak_bytes" not in report_markdown(report)
    rows = json.loads(render(report, "json"))["tables"][0]["rows"]
    assert rows == [{"tensor_peak_bytes": 2**20, "tensor peak (MiB)": 1.0}]
    assert "tensor_peak_bytes" in render(report, "csv")


def test_csv_from_stringio_roundtrip_of_ints():
    df = sample_report().table("info").frame
    back = pd.read_csv(io.StringIO(df.to_csv(index=False)))
    assert back.loc[0, "params"] == 49_606_258


def test_a_new_report_folder_gets_the_umask_mode_not_mkdtemps_0700(tmp_path):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    out = tmp_path / "new"
    write_report(sample_report(), out, "p")
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask for p in out.iterdir())


def _record_staging(monkeypatch) -> list[Path]:
    """Folders that hold each staging folder while the report's files are written."""
    seen: list[Path] = []
    real = Path.write_bytes

    def write_bytes(self, data):
        seen.append(self.parent.parent)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return seen


def test_an_existing_folder_is_staged_into_from_inside(tmp_path, monkeypatch):
    """Publishing into a folder that exists needs no write access to its parent (e.g. `-o ~/m.onnx`)."""
    out = tmp_path / "home" / "rep"
    out.mkdir(parents=True)
    seen = _record_staging(monkeypatch)
    written = publish({"a.md": b"1", "b.json": b"2"}, out)
    assert seen == [out, out] and written == [out / "a.md", out / "b.json"]
    assert sorted(os.listdir(out)) == ["a.md", "b.json"] and os.listdir(tmp_path / "home") == ["rep"]


def test_a_new_folder_is_staged_beside_it_and_renamed(tmp_path, monkeypatch):
    out = tmp_path / "new" / "rep"
    seen = _record_staging(monkeypatch)
    publish({"a.md": b"1"}, out)
    assert seen == [tmp_path / "new"] and os.listdir(tmp_path / "new") == ["rep"] and os.listdir(out) == ["a.md"]


@pytest.mark.parametrize("exists", [False, True], ids=["new", "empty"])
def test_a_folder_of_files_is_published_whole_and_never_mixed(tmp_path, exists):
    """Nested names (a data set) land with their folders; a second data set into the same folder is refused
    before anything moves, so the first keeps exactly its files."""
    out = tmp_path / "d"
    if exists:
        out.mkdir()
    first = {"train/3/0001.png": b"a", "test/3/0002.png": b"b", "classes.txt": b"3\n"}
    written = publish(first, out)
    assert written == [out / n for n in first] and sorted(os.listdir(out)) == ["classes.txt", "test", "train"]
    assert (out / "train" / "3" / "0001.png").read_bytes() == b"a"
    with pytest.raises(DataPathError, match="exists already and would mix"):
        publish({"train/3/0003.png": b"c", "classes.txt": b"other\n"}, out)
    assert os.listdir(out / "train" / "3") == ["0001.png"] and (out / "classes.txt").read_bytes() == b"3\n"
    assert sorted(os.listdir(tmp_path)) == ["d"] and sorted(os.listdir(out)) == ["classes.txt", "test", "train"]
