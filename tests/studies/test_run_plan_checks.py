"""What `plan_run` checks before any model is built: recipe names, data folders, only the calibration images
that calibration will read."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from swinprof.cli.main import main
from swinprof.errors import DataPathError, RecipeError
from swinprof.optimize.presets import get_recipe
from swinprof.studies.recipe_evaluation import calibration_count
from swinprof.studies.recipe_run import RunOptions, plan_run
from tests.evaluate.test_imagefolder import write_folder


def _renamed(preset: str, name: str):
    r = get_recipe(preset)
    return dataclasses.replace(r, meta=dataclasses.replace(r.meta, name=name))


def test_two_recipes_of_one_name_are_refused():
    with pytest.raises(RecipeError, match="two recipes are named 'int8'"):
        plan_run([_renamed("int8-dynamic", "int8"), _renamed("int8-weight-only", "int8")], RunOptions())
    with pytest.raises(RecipeError, match="'fp32-eager' is not plain fp32 eager"):
        plan_run([_renamed("int8-dynamic", "fp32-eager")], RunOptions())


def test_the_calibration_folder_is_read_only_as_far_as_calibration_goes(tmp_path):
    folder = write_folder(tmp_path / "calib", per_class=20)  # 60 images
    (folder / "red" / "zz-broken.png").write_bytes(b"\x89PNG not really")  # sorts last: beyond what is read
    recipes = [get_recipe("fp32-eager"), get_recipe("int8-x86-cpu")]
    needed = calibration_count(recipes)
    plan = plan_run(recipes, RunOptions(calibration_data=str(folder)))
    assert len(plan.calibration_images) == needed == 32 and not plan.scan_warnings
    unused = plan_run([get_recipe("fp32-eager"), get_recipe("int8-dynamic")], RunOptions(calibration_data=str(folder)))
    assert unused.calibration_images is None
    assert "was not read: no recipe of this run calibrates" in unused.scan_warnings[0]
    everything = write_folder(tmp_path / "small", per_class=1)
    (everything / "red" / "0.png").write_bytes(b"broken")
    with pytest.raises(DataPathError, match=r"0\.png"):
        plan_run(recipes, RunOptions(calibration_data=str(everything)))


def test_bad_data_folders_fail_before_the_model_is_built(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["run", "fp32-eager", "int8-x86-cpu", "--model", "swin_digits", "--calibration-data", str(empty)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no images" in err and "building" not in err
    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    assert main(["run", "fp32-eager", "--model", "swin_digits", "--labels", str(tmp_path / "one.png")]) == 2
    assert "--labels needs --data FOLDER" in capsys.readouterr().err
