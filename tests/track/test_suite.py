from pathlib import Path

import pytest

from swinprof.errors import SuiteError
from swinprof.track.suite import load_suite, normalize_recipe

ROOT = Path(__file__).resolve().parents[2]

HEAD = '[suite]\nname = "t"\n'
CASE = (
    '[[cases]]\nmodel = "swin_t"\nres = 64\n[cases.config]\nembed_dim = 32\ndepths = [1, 1, 2, 1]\n'
    "num_heads = [1, 2, 2, 4]\n"
)


def write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_committed_suites_load_and_validate():
    tiny = load_suite(ROOT / "recipes/suites/ci-bench-tiny.toml")
    assert tiny.metric == "cpu" and tiny.threads == 1 and tiny.processes == 3
    assert [c.id for c in tiny.cases] == [
        "tiny:swin_t/64/b2/reference/fp32-eager",
        "tiny:swinv2_t_w8/64/b2/reference/fp32-eager",
    ]
    full = load_suite(ROOT / "recipes/suites/ci-bench.toml")
    assert full.name == "ci-bench" and len(full.cases) >= 2
    assert all(c.recipe == "fp32-eager" for c in full.cases if c.mode == "eager")


def test_lists_expand_to_the_cross_product(tmp_path):
    text = (
        HEAD
        + '[[cases]]\nmodel = ["swin_t", "swin_s"]\nres = [224, 256]\nbatch = [1, 8]\nrecipe = ["eager", "compile"]\n'
    )
    suite = load_suite(write(tmp_path, text))
    assert len(suite.cases) == 16
    assert {c.recipe for c in suite.cases} == {"fp32-eager", "fp32-compile"}
    assert len({c.id for c in suite.cases}) == 16


def test_identity_depends_on_cases_not_on_sample_count(tmp_path):
    a = load_suite(write(tmp_path, HEAD + "samples = 10\n" + CASE))
    b = load_suite(write(tmp_path, HEAD + "samples = 99\n" + CASE))
    c = load_suite(write(tmp_path, HEAD + CASE.replace("res = 64", "res = 96")))
    assert a.identity == b.identity != c.identity


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[cases]]\nmodel = "swin_t"\nres = 64\n', "[suite]"),
        (HEAD, "no cases"),
        (HEAD + '[[cases]]\nmodel = "swin_x"\nres = 64\n', "swin_x"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 65\n', "multiple of 32"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 64\nrecipe = "int3"\n', "unknown recipe"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 64\nattn = "nope"\n', "nope"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 64\nbatch = 0\n', "batch"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 64\ncolour = 1\n', "unknown keys"),
        (HEAD + CASE + "wings = 2\n", "unknown model config"),
        (HEAD + '[[cases]]\nmodel = "swin_t"\nres = 64\n[[cases]]\nmodel = "swin_t"\nres = 64\n', "duplicate"),
        (HEAD + 'metric = "joules"\n' + CASE, "metric"),
        (HEAD + "seed = 18446744073709551615\n" + CASE, "seed must be an integer from 0 to 2^63-1"),
        ("[suite\n", "not valid TOML"),
    ],
)
def test_bad_suites_fail_with_one_clear_line(tmp_path, text, message):
    with pytest.raises(SuiteError, match=None) as info:
        load_suite(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="not found"):
        load_suite(tmp_path / "nope.toml")


def test_recipe_aliases():
    assert normalize_recipe("compile") == "fp32-compile"
    assert normalize_recipe("bf16-eager") == "bf16-eager"


def test_suite_dict_round_trip():
    from swinprof.track.suite import suite_from_dict

    suite = load_suite(ROOT / "recipes/suites/ci-bench-tiny.toml")
    assert suite_from_dict(suite.to_dict()) == suite
