"""`publish`: where a report is staged before it appears whole in its folder."""

from __future__ import annotations

import os
from pathlib import Path

from swinprof.report.writer import publish


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
