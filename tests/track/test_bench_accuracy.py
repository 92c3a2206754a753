"""`swinprof bench --data`: the producer of the per-case top-1 that `regress --acc-threshold` reads. Each case's
model is evaluated once, as timed, over labeled images; the record pairs by image id in regress."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from swinprof.cli.main import main
from swinprof.evaluate.imagefolder import accuracy_of, scan_images
from swinprof.models import create_model, get_variant
from swinprof.models.preprocess import build_transform
from swinprof.track.regress import compare_results
from swinprof.track.results import load_results

CONFIG = dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=3)
SUITE = """[suite]
name = "acc-tiny"
device = "cpu"
threads = 1
warmup = 0
samples = 2
processes = 1

[[cases]]
name = "tiny"
model = "swin_t"
res = 64
batch = 2
recipe = ["fp32-eager", "bf16-eager"]

[cases.config]
embed_dim = 32
depths = [1, 1, 2, 1]
num_heads = [1, 2, 2, 4]
window_size = 4
num_classes = 3
"""


@pytest.fixture
def labeled(tmp_path):
    """A suite of two cases, a checkpoint of its tiny model, 12 labeled images in 3 class folders and a class map."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "fox")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            pixels = (rng.random((72, 80, 3)) * 255 * (c + 1) / 3).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    (tmp_path / "classes.txt").write_text("cat 0\ndog 1\nfox 2\n")
    torch.manual_seed(1)
    model = create_model("swin_t", img_size=64, **CONFIG)
    torch.save(model.state_dict(), tmp_path / "tiny.pth")
    (tmp_path / "suite.toml").write_text(SUITE)
    return tmp_path


def _bench(root, out: str, *extra: str) -> list[str]:
    return ["bench", str(root / "suite.toml"), "-o", str(root / out), "--weights", str(root / "tiny.pth"),
            "--data", str(root / "data"), "--class-map", str(root / "classes.txt"), *extra]  # fmt: skip


def test_bench_data_writes_each_cases_top1_with_ids_and_regress_pairs_it(labeled):
    assert main(_bench(labeled, "r.json", "--quiet")) == 0
    results = load_results(labeled / "r.json")
    fp32 = results.case("tiny:swin_t/64/b2/reference/fp32-eager").spec["accuracy"]
    images = scan_images(labeled / "data", labeled / "classes.txt")
    assert fp32["images"] == 12 and len(fp32["correct"]) == 12 and fp32["ids"] == images.ids
    assert fp32["ids"][:3] == ["cat/0.png", "dog/0.png", "fox/0.png"] and fp32["data"] == "data: 12 images (class-map)"
    assert fp32["weights"] == "tiny.pth" and len(fp32["weights_sha256"]) == 64
    # the same number an independent evaluation of the checkpoint gives
    model = create_model("swin_t", img_size=64, weights=str(labeled / "tiny.pth"),
                         **CONFIG).eval()  # fmt: skip
    expected = accuracy_of({"m": model}, images, build_transform(get_variant("swin_t"), 64))["m"]
    assert fp32["top1"] == round(expected.acc1 * 12 / 100) == sum(fp32["correct"])
    bf16 = results.case("tiny:swin_t/64/b2/reference/bf16-eager").spec["accuracy"]
    assert bf16["ids"] == fp32["ids"]
    cmp = compare_results(results, results, min_samples=2)
    assert [d.paired for d in cmp.top1] == [True, True] and not any("unpaired" in w for w in cmp.warnings)


def test_bench_data_limits_and_refusals(labeled, capsys):
    assert main(_bench(labeled, "r.json", "--limit", "5", "--format", "csv")) == 0
    acc = load_results(labeled / "r.json").cases[0].spec["accuracy"]
    assert acc["images"] == 5 and acc["ids"] == ["cat/0.png", "dog/0.png", "fox/0.png", "cat/1.png", "dog/1.png"]
    summary = capsys.readouterr().out
    header = next(line for line in summary.splitlines() if line.startswith("case,"))
    assert "top-1 %" in header and f"{100 * acc['top1'] / 5:g}" in summary
    base = ["bench", str(labeled / "suite.toml"), "-o", str(labeled / "x.json"), "--quiet"]
    for argv, says in [
        ([*base, "--data", str(labeled / "data"), "--class-map", str(labeled / "classes.txt")], "give --weights"),
        ([*base, "--limit", "3"], "--limit applies to the accuracy evaluation: give --data"),
        ([*base, "--weights", str(labeled / "tiny.pth"), "--data", str(labeled / "data")], "pass --class-map FILE"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err
        assert not (labeled / "x.json").exists()
    json.loads((labeled / "r.json").read_text())  # the earlier file is untouched
