import json

import pytest

from swinprof.errors import ResultsError
from swinprof.track import results as results_mod
from swinprof.track.results import SCHEMA_VERSION, load_results, results_from_dict, save_results


def test_round_trip_keeps_every_sample(tmp_path, make_results):
    r = make_results(1)
    path = save_results(r, tmp_path / "sub" / "r.json")
    back = load_results(path)
    assert back.to_dict() == r.to_dict()
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert back.cases[1].cpu_ms == r.cases[1].cpu_ms
    assert not list(path.parent.glob(".*.tmp"))  # the atomic writer cleaned up


def test_newer_schema_fails_clearly(tmp_path, make_results):
    doc = make_results(1).to_dict()
    doc["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="newer than this swinprof reads"):
        load_results(tmp_path / "r.json")


def test_older_schema_is_upgraded_by_its_migration(monkeypatch, make_results):
    """A version-0 document (samples under another key) loads through the migration chain."""
    doc = make_results(1).to_dict()
    rename = lambda c, a, b: {(b if k == a else k): v for k, v in c.items()}  # noqa: E731
    old = {**doc, "schema_version": 0, "cases": [rename(c, "samples_ms", "times") for c in doc["cases"]]}
    assert "samples_ms" not in old["cases"][0]

    def v0_to_v1(d):
        return {**d, "schema_version": 1, "cases": [rename(c, "times", "samples_ms") for c in d["cases"]]}

    monkeypatch.setattr(results_mod, "_MIGRATIONS", {0: v0_to_v1})
    back = results_from_dict(json.loads(json.dumps(old)))
    assert back.cases[0].samples_ms == doc["cases"][0]["samples_ms"]


def test_older_schema_without_migration_fails_clearly(make_results):
    doc = {**make_results(1).to_dict(), "schema_version": 0}
    with pytest.raises(ResultsError, match=r"no longer supported.*re-run the benchmark"):
        results_from_dict(doc)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("schema_version"), "schema_version"),
        (lambda d: d.update(kind="something-else"), "not a swinprof bench results file"),
        (lambda d: d.pop("cases"), "missing 'cases'"),
        (lambda d: d["cases"][0].update(samples_ms=[1.0, -2.0]), "finite non-negative numbers"),
    ],
)
def test_damaged_documents_fail_clearly(tmp_path, make_results, mutate, message):
    doc = make_results(1).to_dict()
    mutate(doc)
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=message):
        load_results(tmp_path / "r.json")


def test_truncated_and_missing_files(tmp_path, make_results):
    text = json.dumps(make_results(1).to_dict())
    (tmp_path / "t.json").write_text(text[: len(text) // 2])
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_results(tmp_path / "t.json")
    with pytest.raises(ResultsError, match="not found"):
        load_results(tmp_path / "missing.json")
