import csv
import json
import os

import numpy as np
import pytest

from conftest import run_script
from srn_tf import build_srn, export
from srn_tf.image_io import read_image
from test_data import make_gopro_tree


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    color = build_srn("color")
    dec = color.get_layer("dec1_0")
    dec.bias.assign(np.full(dec.bias.shape, 0.5, np.float32))
    color.save(str(folder / "color.keras"))
    export.export(build_srn("gray"), str(folder / "gray_export"), weights_source="test")
    return str(folder / "color.keras"), str(folder / "gray_export")


def independent_psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.slow
def test_two_models_at_once_on_a_fake_gopro_tree(tmp_path, two_models):
    root = make_gopro_tree(tmp_path / "gopro", split="test", sequences=2, frames=2, size=(24, 40))
    bad = tmp_path / "gopro" / "test" / "GOPR0001_00_00" / "blur" / "000001.png"
    bad.write_bytes(bad.read_bytes()[:100])
    out = tmp_path / "out"
    result = run_script("evaluate.py", f"--weights={two_models[0]},{two_models[1]}",
                        f"--data={root}", f"--output_dir={out}", "--save_images")
    assert result.returncode != 0, result.stderr[-3000:]   # a run that skipped a pair
    assert "000001.png" in result.stderr   # the corrupt image, reported by path
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["model"] for r in rows} == {"blurry", "color.keras", "gray_export"}
    assert len(rows) == 3 * 3                 # 3 readable images × 3 models
    summary = json.load(open(out / "summary.json"))
    assert summary["images_evaluated"] == 3 and len(summary["skipped"]) == 1
    for row in rows:
        seq, frame = row["image"].split("/")
        sharp = read_image(tmp_path / "gopro" / "test" / seq / "sharp" / f"{frame}.png")
        if row["model"] == "blurry":
            result_image = read_image(tmp_path / "gopro" / "test" / seq / "blur" / f"{frame}.png")
        else:
            result_image = read_image(out / "images" / row["model"] / seq / f"{frame}.png")
        assert float(row["psnr"]) == pytest.approx(independent_psnr(sharp, result_image), abs=1e-6)
    for model, figures in summary["models"].items():
        mine = [r for r in rows if r["model"] == model]
        assert figures["images"] == 3
        assert figures["psnr"] == pytest.approx(np.mean([float(r["psnr"]) for r in mine]))
        assert figures["ssim"] == pytest.approx(np.mean([float(r["ssim"]) for r in mine]))
    assert summary["models"]["blurry"]["delta_psnr_vs_blurry"] == 0
    strips = sorted(os.listdir(out / "strips" / "GOPR0000_00_00"))
    assert strips == ["000000.png", "000001.png"]
    strip = read_image(out / "strips" / "GOPR0000_00_00" / "000000.png")
    assert strip.shape[0] == 256 and strip.shape[1] >= 4 * 256 * 40 // 24   # 4 panels
    assert read_image(out / "psnr_per_image.png").shape[2] in (3, 4)
    assert "color.keras" in result.stdout
    assert "3 images in every PSNR mean; 1 skipped" in result.stdout


@pytest.mark.slow
def test_missing_ground_truth_is_an_error_naming_it(tmp_path):
    root = make_gopro_tree(tmp_path, split="test", sequences=1, frames=2, size=(16, 16))
    os.remove(tmp_path / "test" / "GOPR0000_00_00" / "sharp" / "000001.png")
    result = run_script("evaluate.py", "--weights=blurry", f"--data={root}",
                        f"--output_dir={tmp_path / 'out'}")
    assert result.returncode != 0
    assert "GOPR0000_00_00/blur/000001.png (no sharp image)" in result.stderr


def test_what_train_py_writes_is_named_after_its_workdir():
    from srn_tf.evaluate_lib import _display_name
    assert _display_name("checkpoints/train_cnn/model.keras") == "train_cnn"
    assert _display_name("checkpoints/train_cnn/saved_model/") == "train_cnn_saved"
    assert _display_name("checkpoints/lstm") == "lstm"
    assert _display_name("other/my_model.keras") == "my_model.keras"
    assert _display_name("model.keras") == "model.keras"
