import json
import os

import numpy as np
import pytest
from scipy.signal import fftconvolve
from skimage.metrics import peak_signal_noise_ratio

from srn_tf import embedded, metrics, sources
from srn_tf.errors import DataError
from srn_tf.image_io import read_image


def test_split_is_by_photo_and_complete(embedded_dir):
    train = sources.resolve_pairs(embedded_dir, split="train")
    test = sources.resolve_pairs(embedded_dir, split="test")
    val = sources.resolve_pairs(embedded_dir, split="val")
    photos = {split: {p.name.split("/")[0] for p in pairs}
              for split, pairs in (("train", train), ("test", test), ("val", val))}
    assert photos == {s: set(embedded.PHOTOS[s]) for s in ("train", "test", "val")}
    assert not photos["train"] & photos["test"]
    assert not photos["val"] & (photos["train"] | photos["test"])
    assert len(train) == 6 * 6 and len(test) == 3 * 2 and len(val) == 7 * 2
    for pair in val:     # centre crops, grey photos as RGB; blurred like the rest
        sharp, blur = read_image(pair.sharp), read_image(pair.blur)
        assert sharp.shape[2] == 3 and max(sharp.shape[:2]) <= embedded.VAL_SIDE
        assert 17.0 < metrics.psnr(sharp, blur) < 40.0
    assert sources.resolve_pairs(None, split="test") == test   # the default source


def test_blur_is_real_blur_and_its_kernel_explains_it(embedded_dir):
    for pair in sources.resolve_pairs(embedded_dir, split="test"):
        blur, sharp = read_image(pair.blur), read_image(pair.sharp)
        assert blur.shape == sharp.shape and not np.array_equal(blur, sharp)
        psnr = peak_signal_noise_ratio(sharp, blur)
        assert psnr < 35   # a copy would be infinite; noise alone ~42–54 dB
        seq, frame = pair.name.split("/")
        folder = os.path.join(embedded_dir, "test", seq)
        kernel = np.load(os.path.join(folder, "kernel", frame + ".npy"))
        assert abs(kernel.sum() - 1) < 1e-9 and kernel.shape[0] % 2 == 1
        with open(os.path.join(folder, "trajectory", frame + ".json")) as f:
            assert len(json.load(f)["dx_dy_angle_deg"]) >= 9
        # The recorded kernel reproduces the blur far better than no blur (away from borders).
        reblurred = np.stack([fftconvolve(sharp[..., c] / 255.0, kernel, mode="same")
                              for c in range(3)], axis=-1)
        inner = (slice(32, -32), slice(32, -32))
        assert peak_signal_noise_ratio(blur[inner] / 255.0, np.clip(reblurred, 0, 1)[inner],
                                       data_range=1.0) > psnr + 5


def test_synthesis_is_deterministic_for_a_seed():
    sharp = embedded.load_photo("chelsea")[:64, :64]
    a = embedded.synthesize(sharp, np.random.default_rng(1))
    b = embedded.synthesize(sharp, np.random.default_rng(1))
    c = embedded.synthesize(sharp, np.random.default_rng(2))
    np.testing.assert_array_equal(a["blur"], b["blur"])
    assert not np.array_equal(a["blur"], c["blur"])
    assert not np.array_equal(a["blur"], a["blur_gamma"])


def test_trajectory_is_smooth_and_centred():
    t = embedded.random_trajectory(np.random.default_rng(0))
    assert len(t) % 2 == 1 and np.all(t[len(t) // 2, :2] == 0)
    steps = np.linalg.norm(np.diff(t[:, :2], axis=0), axis=1)
    assert steps.max() <= 0.75   # sub-pixel spacing between frames


def test_materialise_is_atomic_and_versioned(tmp_path, monkeypatch):
    target = str(tmp_path / "emb")
    monkeypatch.setattr(embedded, "PHOTOS", {"train": ("coffee",), "test": ("rocket",)})
    embedded.materialise(target, frames_per_photo={"train": 1, "test": 1})
    assert sorted(os.listdir(tmp_path)) == ["emb"]   # no temporary folder left
    assert sorted(os.listdir(target)) == ["VERSION", "test", "train"]

    def failing(*args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(embedded, "synthesize", failing)
    with pytest.raises(RuntimeError):
        embedded.materialise(target, frames_per_photo={"train": 1, "test": 1})
    assert sorted(os.listdir(tmp_path)) == ["emb"]   # the old copy is intact
    assert os.path.isfile(os.path.join(target, "train", "coffee", "sharp", "000000.png"))
    # a folder of the user's is never replaced
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match="holds no embedded dataset"):
        embedded.materialise(str(mine), frames_per_photo={"train": 1, "test": 1})
    assert sorted(os.listdir(mine)) == ["holiday.jpg"]


def test_default_folder_is_never_inside_an_installed_package(tmp_path, monkeypatch):
    from conftest import ROOT
    monkeypatch.delenv(embedded.DATA_ENV, raising=False)
    assert embedded.default_dir() == os.path.join(ROOT, "data", "embedded")   # this checkout
    # installed (e.g. site-packages/srn_tf/embedded.py, no data/README.md beside the package)
    monkeypatch.setattr(embedded, "__file__", str(tmp_path / "site" / "srn_tf" / "embedded.py"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert embedded.default_dir() == str(tmp_path / "cache" / "srn_tf" / "embedded")
    monkeypatch.setenv(embedded.DATA_ENV, str(tmp_path / "mine"))
    assert embedded.default_dir() == str(tmp_path / "mine" / "embedded")
