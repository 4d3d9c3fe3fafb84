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


# ---- the issue 11 cases: every input a user can give, each with its right value ----------------

def _pair(root, name, blur, sharp):
    from PIL import Image
    for folder, image in (("blur", blur), ("sharp", sharp)):
        os.makedirs(root / folder, exist_ok=True)
        Image.fromarray(image).save(root / folder / name)


def _toy(name, change):
    from srn_tf.evaluate_lib import Restorer
    calls = []

    def restore(image, kernel):
        calls.append(image.shape)
        return change(image)
    restorer = Restorer(name, restore, source="test")
    restorer.calls = calls
    return restorer


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(open(path).read(), parse_constant=refuse)


def test_16_bit_pairs_scored_at_16_bits_and_saved_as_16_bit(tmp_path):
    """BH-01 / NC 2: peak 65535; --save_images writes 16-bit results and a strip."""
    from test_image_io import png16
    from srn_tf.evaluate_lib import evaluate
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:96]
    sharp = np.stack([x * 600, y * 900, (x + y) * 300], axis=-1).astype(np.uint16)
    blur = np.clip(sharp.astype(np.int64) + rng.normal(0, 512, sharp.shape).round(), 0,
                   65535).astype(np.uint16)
    for folder, image in (("blur", blur), ("sharp", sharp)):
        os.makedirs(tmp_path / "d" / folder)
        png16(tmp_path / "d" / folder / "000001.png", image)
    plus = _toy("plus", lambda image: image + 1)
    summary = evaluate([plus], str(tmp_path / "d"), output_dir=str(tmp_path / "o"),
                       save_images=True)
    expected = 10 * np.log10(65535 ** 2 / np.mean((sharp.astype(float) - blur) ** 2))
    assert summary["models"]["blurry"]["psnr"] == pytest.approx(expected, abs=1e-6)
    assert summary["models"]["blurry"]["psnr"] == pytest.approx(42.19, abs=0.01)
    saved = read_image(tmp_path / "o" / "images" / "plus" / "000001.png")
    assert saved.dtype == np.uint16
    np.testing.assert_array_equal(saved, blur + 1)
    assert read_image(tmp_path / "o" / "strips" / "000001.png").shape[0] == 256


def test_grey_pairs_stay_grey(tmp_path):
    from srn_tf.evaluate_lib import evaluate
    rng = np.random.default_rng(1)
    sharp = rng.integers(0, 256, (24, 20), dtype=np.uint8)
    blur = np.clip(sharp + rng.normal(0, 9, sharp.shape), 0, 255).astype(np.uint8)
    _pair(tmp_path / "d", "g.png", blur, sharp)
    plus = _toy("plus", lambda image: image)
    summary = evaluate([plus], str(tmp_path / "d"), output_dir=str(tmp_path / "o"),
                       save_images=True)
    assert plus.calls == [(24, 20, 1)]
    assert summary["models"]["plus"]["psnr"] == pytest.approx(independent_psnr(sharp, blur))
    assert read_image(tmp_path / "o" / "images" / "plus" / "g.png").shape == (24, 20, 1)


def test_infinite_psnr_keeps_every_image_and_the_ranking(tmp_path):
    """BH-09: the case's two pairs; `exact` beats `offby1`, every mean covers both images."""
    from srn_tf.evaluate_lib import evaluate, format_table
    rng = np.random.default_rng(0)
    black = np.zeros((64, 96, 3), np.uint8)
    y, x = np.mgrid[0:64, 0:96]
    scene = np.stack([(x * 2) % 256, (y * 3) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    noisy = np.clip(scene + rng.normal(0, 8, scene.shape), 0, 255).astype(np.uint8)
    _pair(tmp_path / "d", "frame_black.png", black, black)
    _pair(tmp_path / "d", "frame_scene.png", noisy, scene)

    def off_by_one(image):
        out = image.copy()
        if not out.any():
            out[0, 0, 0] = 1
        return out
    summary = evaluate([_toy("exact", lambda i: i), _toy("offby1", off_by_one)],
                       str(tmp_path / "d"), output_dir=str(tmp_path / "o"))
    scene_psnr = independent_psnr(scene, noisy)
    black_off = 10 * np.log10(255 ** 2 / (1 / black.size))
    models = summary["models"]
    assert models["exact"]["psnr"] == pytest.approx((100 + scene_psnr) / 2)
    assert models["offby1"]["psnr"] == pytest.approx((black_off + scene_psnr) / 2)
    assert models["exact"]["psnr"] > models["offby1"]["psnr"]
    assert models["exact"]["psnr_images"] == 2 and models["exact"]["psnr_at_cap"] == 1
    assert "2 images in every PSNR mean" in format_table(summary)
    assert _strict_json(tmp_path / "o" / "summary.json")["models"]["exact"]["psnr_at_cap"] == 1


def test_sizes_that_differ_are_refused_before_any_work(tmp_path):
    """NC 4: named before a single image is restored; nothing written."""
    from srn_tf.errors import DataError
    from srn_tf.evaluate_lib import evaluate
    img = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    _pair(tmp_path / "d", "a.png", img, img[::-1])
    _pair(tmp_path / "d", "b.png", img, img[:32])
    toy = _toy("toy", lambda i: i)
    with pytest.raises(DataError, match=r"b\.png \(64×96\) and .*b\.png \(32×96\) differ"):
        evaluate([toy], str(tmp_path / "d"), output_dir=str(tmp_path / "o"))
    assert toy.calls == [] and not (tmp_path / "o" / "results.csv").exists()


def test_images_smaller_than_the_ssim_window_have_no_ssim(tmp_path):
    """NC 5: the 7×5 pair: its PSNR, SSIM null in strict JSON, the table says so."""
    from srn_tf.evaluate_lib import evaluate, format_table
    img = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)[:5, :7]
    _pair(tmp_path / "d", "a.png", img, img[:, :, ::-1].copy())
    summary = evaluate([], str(tmp_path / "d"), output_dir=str(tmp_path / "o"))
    blurry = _strict_json(tmp_path / "o" / "summary.json")["models"]["blurry"]
    assert blurry["psnr"] == pytest.approx(independent_psnr(img[:, :, ::-1], img))
    assert blurry["ssim"] is None and blurry["ssim_images"] == 0
    assert "SSIM over 0 of them" in format_table(summary)


def test_the_progress_bar_knows_how_many_pairs_there_are(tmp_path, capsys):
    """The bar shows a total (it showed only a count): 3 pairs, --limit=2 → 2/2."""
    from srn_tf.evaluate_lib import evaluate
    for name in ("a.png", "b.png", "c.png"):
        image = np.full((16, 16, 3), 100, np.uint8)
        _pair(tmp_path / "d", name, image, image)
    evaluate([], str(tmp_path / "d"), output_dir=str(tmp_path / "o"), limit=2)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_that_skipped_a_pair_exits_non_zero_with_strict_json(tmp_path):
    """NC 11: the only pair's blurry image is unreadable: named, exit ≠ 0, no NaN written."""
    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "d" / "blur")
    (tmp_path / "d" / "blur" / "a.png").write_bytes(rng.bytes(500))
    _pair(tmp_path / "e", "a.png", np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))
    os.rename(tmp_path / "e" / "sharp", tmp_path / "d" / "sharp")
    result = run_script("evaluate.py", "--weights=blurry", f"--data={tmp_path / 'd'}",
                        f"--output_dir={tmp_path / 'o'}")
    assert result.returncode != 0
    assert "1 pair was unreadable and skipped" in result.stderr
    assert str(tmp_path / "d" / "blur" / "a.png") in result.stderr   # the file, not just its stem
    summary = _strict_json(tmp_path / "o" / "summary.json")
    assert summary["images_evaluated"] == 0 and summary["models"]["blurry"]["psnr"] is None


def test_training_held_out_figures_use_the_same_convention():
    """train_lib.evaluate_images: the capped PSNR keeps a perfect image in the mean (not inf)."""
    from srn_tf.train_lib import evaluate_images
    model = build_srn("color")
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    noisy = np.clip(sharp + rng.normal(0, 8, sharp.shape), 0, 255).astype(np.uint8)
    figures = evaluate_images(model, [(sharp, sharp), (noisy, sharp)])
    assert figures["psnr_blurry"] == pytest.approx((100 + independent_psnr(sharp, noisy)) / 2)


def test_pairs_sharing_a_stem_keep_separate_results(tmp_path):
    """BH-02's kind in evaluate: blur/a.jpg and blur/a.png are two rows and two saved images."""
    from srn_tf.evaluate_lib import evaluate
    img = np.full((16, 16, 3), 100, np.uint8)
    _pair(tmp_path / "d", "a.png", img, img)
    _pair(tmp_path / "d", "a.bmp", img, img)
    evaluate([_toy("toy", lambda i: i)], str(tmp_path / "d"), output_dir=str(tmp_path / "o"),
             save_images=True)
    rows = list(csv.DictReader(open(tmp_path / "o" / "results.csv")))
    assert sorted({r["image"] for r in rows}) == ["a.bmp", "a.png"]
    assert sorted(os.listdir(tmp_path / "o" / "images" / "toy")) == ["a.bmp.png", "a.png.png"]


def test_eight_bit_rgb_restorers_take_grey_and_16_bit_pairs():
    """A SavedModel / classical method (uint8 RGB only) on a 16-bit grey image: run at 8 bits,
    scaled back; what it saw and what comes back computed here."""
    from srn_tf.evaluate_lib import _eight_bit_rgb
    seen = []

    def restore(image, kernel):
        seen.append(image)
        return image
    grey16 = np.array([[[0], [257 * 3 + 100], [65535]]], np.uint16)
    out = _eight_bit_rgb(restore)(grey16, None)
    np.testing.assert_array_equal(seen[0], np.repeat(np.array([[[0], [3], [255]]], np.uint8), 3, 2))
    assert out.dtype == np.uint16 and out.shape == (1, 3, 1)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 3 * 257, 65535]])


def test_video_sequences_get_their_flicker_measured_and_the_consistent_mode_a_row(tmp_path):
    """Issue 23: on video data (a GoPro-layout root of two 5-frame clips of a panned photo,
    every frame with its own noise) the table and summary.json give each row's warping error per
    sequence and on average, the input's and the sharp frames' too; --consistency adds the
    consistent mode's row, steadier than the input's. The model stands aside (the identity)."""
    import skimage.data
    from PIL import Image
    from srn_tf import evaluate_lib
    photo, rng = skimage.data.astronaut(), np.random.default_rng(0)
    for clip in ("A", "B"):
        for key in ("blur", "sharp"):
            os.makedirs(tmp_path / "video" / "test" / clip / key)
        for t in range(5):
            sharp = np.ascontiguousarray(photo[150:214, 100 + 3 * t:196 + 3 * t])
            noisy = np.clip(sharp + rng.normal(0, 5, sharp.shape), 0, 255).astype(np.uint8)
            Image.fromarray(sharp).save(tmp_path / "video" / "test" / clip / "sharp" / f"{t}.png")
            Image.fromarray(noisy).save(tmp_path / "video" / "test" / clip / "blur" / f"{t}.png")
    identity = evaluate_lib.Restorer("identity", lambda image, kernel: image)
    summary = evaluate_lib.evaluate([identity], str(tmp_path / "video"), consistency=0.5,
                                    output_dir=str(tmp_path / "out"))
    models = summary["models"]
    assert list(models) == ["blurry", "identity", "identity consistent"]
    assert models["identity"]["warping_error"] == models["blurry"]["warping_error"] > 0
    assert models["identity consistent"]["warping_error"] < 0.6 * models["blurry"]["warping_error"]
    assert models["identity consistent"]["psnr"] > models["blurry"]["psnr"]   # noise averaged
    per_sequence = summary["warping_error_per_sequence"]
    assert sorted(per_sequence) == ["A", "B"] and summary["warping_error_sharp"] < (
        models["blurry"]["warping_error"])
    assert models["blurry"]["warping_error"] == pytest.approx(np.mean(
        [per_sequence[s]["blurry"] for s in "AB"]))
    table = evaluate_lib.format_table(summary)
    assert "E_warp×1e3" in table and "identity consistent" in table and "sharp frames" in table
    with open(tmp_path / "out" / "summary.json") as f:
        assert json.load(f)["warping_error_per_sequence"]["A"]["identity consistent"] > 0
    # the embedded photos' blurs are not a video: no flicker column unless asked for
    assert not evaluate_lib.is_video_source(None) and evaluate_lib.is_video_source("clips")
