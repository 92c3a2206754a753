"""The OpenVINO runtime: fp32 and NNCF int8 recipes prepare and run on a tiny model, skip globs stay float in the
OpenVINO graph, the IR is saved whole, and every failure is one line (exit 2 from the CLI)."""

from __future__ import annotations

import pytest
import torch

import swinprof.optimize.openvino as ovrt
import swinprof.optimize.recipe as recipe_module
from swinprof.cli.main import main
from swinprof.errors import DeviceUnavailableError, MissingExtraError
from swinprof.evaluate.fidelity import compare_logits
from swinprof.optimize.methods import MethodJob, apply_method
from swinprof.optimize.recipe import check_requirements, load_recipe
from swinprof.optimize.runner import prepare
from tests.optimize.tiny import inputs, tiny_model

ov = pytest.importorskip("openvino", reason="needs the [openvino] extra")
pytest.importorskip("nncf", reason="needs the [openvino] extra")


def _recipe(name: str):
    return load_recipe(f"recipes/{name}.toml").replace("model", name="swin_t", img_size=64)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return tiny_model()


@pytest.fixture(scope="module")
def fp32(model, tmp_path_factory):
    return prepare(_recipe("openvino-fp32"), model, [], tmp_path_factory.mktemp("ov-fp32"))


@pytest.fixture(scope="module")
def work(model):
    return ovrt.convert(model)


@pytest.fixture(scope="module")
def int8(model, work, tmp_path_factory):
    """The openvino-int8 recipe's method applied to the converted model, then compiled as the runtime does."""
    recipe = _recipe("openvino-int8")
    calibration = [inputs(8, seed=s) for s in range(2)]
    job = MethodJob.from_recipe(recipe, model, work, calibration, tmp_path_factory.mktemp("ov-int8"))
    return apply_method(recipe.quantize.method, job)


def test_fp32_matches_pytorch_at_two_batch_sizes_through_one_ir(model, fp32):
    for batch in (1, 3):  # dynamic batch: one converted model serves both
        x = inputs(batch, seed=batch)
        with torch.inference_mode():
            err = (fp32.fn(x) - model(x)).abs().max().item()
        assert err < 1e-3
    assert fp32.quantized_layers == [] and fp32.compiled is None


def test_the_ir_is_saved_whole_and_reads_back_to_the_same_logits(model, fp32):
    xml, weights = fp32.artifacts["xml"], fp32.artifacts["bin"]
    assert xml.suffix == ".xml" and weights == xml.with_suffix(".bin")
    assert fp32.size_bytes == weights.stat().st_size > 0
    reread = ovrt.compile_ov(ov.Core().read_model(str(xml)))
    x = inputs(2)
    assert torch.allclose(reread(x), fp32.fn(x), atol=1e-6)


def test_int8_keeps_fidelity_and_reports_what_it_quantized(model, int8, fp32):
    x = inputs(8, seed=5)
    with torch.inference_mode():
        fidelity = compare_logits(model(x), ovrt.compile_ov(int8.work.model)(x))
    assert fidelity.sqnr_db > 15.0  # loose: random weights, 16 random calibration images
    assert len(int8.layers) > 10 and "head" not in int8.layers and "patch_embed.proj" not in int8.layers
    assert any("SmoothQuant off" in note for note in int8.notes)
    _, weights = ovrt.save(int8.work.model, fp32.artifacts["xml"].parent / "int8.xml")
    assert weights.stat().st_size < 0.5 * fp32.size_bytes  # int8 weights in the IR


def test_skip_globs_leave_their_ops_float_in_the_openvino_graph(work, int8):
    quantized = set(ovrt.quantized_ops(int8.work.model))
    floating = ovrt.float_scope(work, ("*",), ("patch_embed", "head"))
    assert {work.op_modules[name] for name in floating} == {"patch_embed.proj", "head"}
    assert not quantized & set(floating)
    # every other Linear's MatMul is int8 (the attention bmm's, activation x activation, are left to NNCF)
    linears = {n for n, m in work.weighted_ops() if m.endswith(("qkv", "proj", "fc1", "fc2", "reduction"))}
    assert linears - set(floating) <= quantized and len(linears - set(floating)) == len(int8.layers)


def test_a_missing_extra_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(recipe_module, "_has_module", lambda name: name != "openvino")
    with pytest.raises(MissingExtraError, match=r"pip install 'swinprof\[openvino\]'"):
        check_requirements(_recipe("openvino-fp32"))
    assert main(["run", "openvino-fp32", "--model", "swin_t", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'swinprof[openvino]'" in err and "\n" not in err


class _Core:
    def __init__(self, capabilities: list[str]) -> None:
        self.capabilities = capabilities

    def get_property(self, device: str, name: str):
        assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
        return self.capabilities


def test_bf16_needs_the_cpu_to_offer_it(monkeypatch):
    recipe = _recipe("openvino-bf16")
    monkeypatch.setattr(ovrt, "_core", lambda: _Core(["FP32", "INT8", "BIN"]))
    with pytest.raises(DeviceUnavailableError, match=r"needs AVX512_BF16/AMX; this CPU offers FP32, INT8, BIN"):
        check_requirements(recipe)
    monkeypatch.setattr(ovrt, "_core", lambda: _Core(["FP32", "BF16", "INT8"]))
    check_requirements(recipe)


def test_openvino_errors_become_one_line(monkeypatch, model):
    report = "Check 'false' failed at src/x.cpp:151:\nFrontEnd API failed with OpConversionFailure:\n" \
             "Model wasn't fully converted.\nSummary:\n-- No conversion rule found for operations: aten.foo.default"

    def unsupported(*args, **kwargs):
        raise ov.frontend.OpConversionFailure(report)

    monkeypatch.setattr(ov, "convert_model", unsupported)
    monkeypatch.setattr(ovrt, "export_program", lambda *args: None)
    monkeypatch.setattr(ovrt, "_decoder", lambda program: program)
    with pytest.raises(ovrt.OpenVinoError, match=r"^OpenVINO could not convert the model: No conversion rule found "
                                                 r"for operations: aten.foo.default$"):  # fmt: skip
        ovrt.convert(model)
