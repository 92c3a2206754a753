"""The OpenVINO runtime: fp32 and NNCF int8 recipes prepare and run on a tiny model, skip globs stay float in the
OpenVINO graph, the IR is saved whole, and every failure is one line (exit 2 from the CLI).

Converting is the slow part (torch.export, then OpenVINO's decompositions): the module fixtures convert twice,
on a two-stage model of three blocks that still has a shifted block (with masks), a regular one, patch merging
and every skip target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import swinprof.optimize.openvino as ovrt
from swinprof.cli.main import main
from swinprof.errors import DeviceUnavailableError, SwinprofError
from swinprof.evaluate.fidelity import compare_logits
from swinprof.optimize.methods import MethodJob, apply_method
from swinprof.optimize.prepare import prepare
from swinprof.optimize.recipe import check_requirements, load_recipe
from tests.optimize.tiny import inputs, tiny_model

ov = pytest.importorskip("openvino", reason="needs the [openvino] extra")
pytest.importorskip("nncf", reason="needs the [openvino] extra")


ROOT = Path(__file__).resolve().parents[2]
# 32x32 images, stage sides 8/4 at window 4: stage 1 has a regular and a shifted block, stage 2 one window.
SMALL = dict(depths=(2, 1), num_heads=(1, 2), img_size=32)
SIZE = SMALL["img_size"]


def _recipe(name: str):
    return load_recipe(f"recipes/{name}.toml").replace("model", name="swin_t", img_size=SIZE)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return tiny_model(**SMALL)


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
    calibration = [inputs(8, seed=s, size=SIZE) for s in range(2)]
    job = MethodJob.from_recipe(recipe, model, work, calibration, tmp_path_factory.mktemp("ov-int8"))
    return apply_method(recipe.quantize.method, job)


def test_fp32_matches_pytorch_at_two_batch_sizes_through_one_ir(model, fp32):
    for batch in (1, 3):  # dynamic batch: one converted model serves both
        x = inputs(batch, seed=batch, size=SIZE)
        with torch.inference_mode():
            err = (fp32.fn(x) - model(x)).abs().max().item()
        assert err < 1e-3
    assert fp32.quantized_layers == [] and fp32.compiled is None


def test_each_input_shape_runs_on_its_own_static_compile(model, fp32):
    runtime = fp32.fn
    assert runtime.model.input(0).get_partial_shape().is_dynamic  # the IR keeps its dynamic batch
    with torch.inference_mode():
        for batch in (2, 1, 4, 5, 6):
            x = inputs(batch, seed=batch, size=SIZE)
            assert (runtime(x) - model(x)).abs().max().item() < 1e-3
    # batch 1 compiled while preparing; at most MAX_SHAPES kept, the least recently used (batch 2) dropped
    assert runtime.compiled_shapes == [(b, 3, SIZE, SIZE) for b in (1, 4, 5, 6)]
    with pytest.raises(ovrt.OpenVinoError, match=r"not \[1025, 3, 32, 32\]"):  # past the export's batch bound
        runtime(torch.zeros(1025, 3, SIZE, SIZE))


def test_a_shape_the_model_cannot_take_is_one_clear_error(fp32):
    with pytest.raises(ovrt.OpenVinoError, match=r"takes input shape \[1\.\.1024,3,32,32\], not \[1, 3, 24, 24\]"):
        fp32.fn(inputs(1, size=24))


def test_the_ir_is_saved_whole_and_reads_back_to_the_same_logits(model, fp32):
    xml, weights = fp32.artifacts["xml"], fp32.artifacts["bin"]
    assert xml.suffix == ".xml" and weights == xml.with_suffix(".bin")
    assert fp32.size_bytes == weights.stat().st_size > 0
    reread = ovrt.compile_ov(ov.Core().read_model(str(xml)))
    x = inputs(2, size=SIZE)
    assert torch.allclose(reread(x), fp32.fn(x), atol=1e-6)


def test_int8_keeps_fidelity_and_reports_what_it_quantized(model, int8, fp32):
    x = inputs(8, seed=5, size=SIZE)
    with torch.inference_mode():
        fidelity = compare_logits(model(x), ovrt.compile_ov(int8.work.model)(x))
    assert fidelity.sqnr_db > 15.0  # loose: random weights, 16 random calibration images
    assert len(int8.layers) > 10 and "head" not in int8.layers and "patch_embed.proj" not in int8.layers
    note = " ".join(int8.notes)
    assert "SmoothQuant off" in note and "2 kept float (ignored scope from [quantize] skip)" in note
    _, weights = ovrt.save(int8.work.model, fp32.artifacts["xml"].parent / "int8.xml")
    assert weights.stat().st_size < 0.5 * fp32.size_bytes  # int8 weights in the IR


def test_nncf_prints_nothing_on_stdout(model, work, tmp_path, capfd):
    # NNCF logs INFO lines and draws progress bars on stdout, which would corrupt `--format json` output.
    recipe = _recipe("openvino-int8")
    job = MethodJob.from_recipe(recipe, model, work, [inputs(4, seed=9, size=SIZE)], tmp_path)
    apply_method(recipe.quantize.method, job)
    assert capfd.readouterr().out == ""


def test_skip_globs_leave_their_ops_float_in_the_openvino_graph(work, int8):
    quantized = set(ovrt.quantized_ops(int8.work.model))
    floating = ovrt.float_scope(work, ("*",), ("patch_embed", "head"))
    assert {work.op_modules[name] for name in floating} == {"patch_embed.proj", "head"}
    assert not quantized & set(floating)
    # every other Linear's MatMul is int8 (the attention bmm's, activation x activation, are left to NNCF)
    linears = {n for n, m in work.weighted_ops() if m.endswith(("qkv", "proj", "fc1", "fc2", "reduction"))}
    assert linears - set(floating) <= quantized and len(linears - set(floating)) == len(int8.layers)


def test_a_missing_extra_is_one_line_exit_2(tmp_path):
    # A fresh interpreter in which `import openvino` fails as it does where the extra is not installed.
    code = ("import sys; sys.modules['openvino'] = None; from swinprof.cli.main import main; "
            f"sys.exit(main(['run', 'openvino-fp32', '--model', 'swin_t', '-o', {str(tmp_path)!r}]))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "needs the 'openvino' package: pip install 'swinprof[openvino]'" in proc.stderr
    assert not any(tmp_path.iterdir())  # stopped before any work


def test_bf16_is_refused_in_one_line_where_the_cpu_lacks_it(capsys, tmp_path):
    offered = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if "BF16" in offered:
        check_requirements(_recipe("openvino-bf16"))  # offered: the recipe may run
        pytest.skip("this CPU offers bf16 inference; the refusal needs one without AVX512_BF16/AMX")
    refused = r"bf16 inference .* needs AVX512_BF16/AMX; this CPU offers .*FP32"  # the plugin's list, in its order
    with pytest.raises(DeviceUnavailableError, match=refused):
        check_requirements(_recipe("openvino-bf16"))
    assert main(["run", "openvino-bf16", "--model", "swin_t", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs AVX512_BF16/AMX" in err and "use openvino-fp32 or openvino-int8" in err and "\n" not in err


class BesselHead(torch.nn.Module):
    """A head OpenVINO has no conversion rule for (aten.special_bessel_j0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.bessel_j0(x)


def test_an_unsupported_op_is_one_swinprof_error_line():
    model = tiny_model(depths=(1,), num_heads=(1,), img_size=SIZE)
    model.head = torch.nn.Sequential(model.head, BesselHead())
    with pytest.raises(ovrt.OpenVinoError) as caught:
        ovrt.convert(model, dynamic_batch=False)
    assert isinstance(caught.value, SwinprofError)
    assert str(caught.value) == ("OpenVINO could not convert the model: No conversion rule found for operations: "
                                 "aten.special_bessel_j0.default")  # fmt: skip


def test_the_proof_counts_the_linears_the_cpu_plugin_runs_in_int8(model, int8, fp32):
    """The runtime's proof counter reads the compiled model: every linear but the skipped head runs in i8/u8."""
    from swinprof.optimize.prepare import Prepared
    from swinprof.optimize.proof import count_linears, count_quantized

    recipe = _recipe("openvino-int8")
    prepared = Prepared(recipe.name, ovrt.compile_ov(int8.work.model), 0.0, None)
    count = count_quantized(recipe, prepared, model)
    assert (count.quantized, count.linears, count.kind) == (count_linears(model) - 1, count_linears(model), "int8")
    fp32_count = ovrt.count_openvino(recipe, fp32, model)  # the same counter on the fp32 IR: nothing int8
    assert fp32_count.quantized == 0


@pytest.mark.slow  # a second NNCF quantization (~15 s on the shared 2-core machines)
def test_smoothquant_keeps_fidelity(model, work, tmp_path):
    recipe = _recipe("openvino-int8").replace("quantize", method="nncf-int8-smoothquant")
    calibration = [inputs(8, seed=s, size=SIZE) for s in range(2)]
    done = apply_method(recipe.quantize.method, MethodJob.from_recipe(recipe, model, work, calibration, tmp_path))
    x = inputs(8, seed=5, size=SIZE)
    with torch.inference_mode():
        assert compare_logits(model(x), ovrt.compile_ov(done.work.model)(x)).sqnr_db > 10.0
    assert "SmoothQuant on" in " ".join(done.notes)
