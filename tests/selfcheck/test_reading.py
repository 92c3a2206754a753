"""Reading key figures from command output: noise lines, several documents, three table shapes, missing columns fail."""

from __future__ import annotations

import json

import pytest

from swinprof.selfcheck.reading import find_row, find_table, fmt, json_documents, number, tables


def test_documents_after_noise_lines_and_back_to_back():
    text = "[torch.onnx] Run decompositions... {not json\n" + json.dumps({"title": "a", "rows": [{"x": 1}]}, indent=2)
    text += "\n" + json.dumps({"title": "b", "rows": [{"x": 2}]}) + "\ntrailing noise\n"
    docs = json_documents(text)
    assert [d["title"] for d in docs] == ["a", "b"]


def test_tables_in_report_frame_and_section_shapes():
    report = {"title": "r", "tables": [{"key": "impls", "title": "Per implementation", "rows": [{"impl": "sdpa"}]}]}
    frame = {"title": "Training step per configuration", "rows": [{"config": "baseline"}]}
    sections = {"header": "h", "sections": {"zero": {"title": "ZeRO-1 on 1 ranks", "rows": [{"rank": 0}]}}}
    views = tables([report, frame, sections])
    assert [v.key for v in views] == ["impls", "", "zero"]
    assert find_table([frame], "training").rows == [{"config": "baseline"}]
    assert find_row(find_table([report], "impls"), "impl", "sdpa") == {"impl": "sdpa"}
    with pytest.raises(LookupError, match="no table matching"):
        find_table([report], "nothing-like-this")


def test_missing_column_fails_the_path_and_null_value_reads_as_none():
    # A renamed column is a regression of the command: the path fails naming the columns that are there
    # (the selfcheck once printed "SQNR ?" beside "ok" for every recipe after the column moved tables).
    row = {"speedup vs fp32": 1.5, "SQNR dB": None, "flag": "n/a"}
    assert number(row, "speedup vs fp32") == 1.5
    assert number(row, "renamed column", "speedup vs fp32") == 1.5
    with pytest.raises(LookupError, match=r"no column 'first call s'.*columns: speedup vs fp32, SQNR dB, flag"):
        number(row, "first call s")
    assert number(row, "SQNR dB") is None and number(row, "flag") is None
    assert fmt(number(row, "SQNR dB"), ".1f", "SQNR dB") == "n/a (no value in 'SQNR dB')"
    assert fmt(float("inf"), ".1f", "SQNR dB") == "inf"
