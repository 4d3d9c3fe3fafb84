import os

import numpy as np
import pytest

from srn_tf.inference import deblur
from srn_tf.tf_graph import compiled_restore
from srn_tf.model import build_srn


@pytest.fixture(scope="module")
def color_model():
    model = build_srn("color")
    rng = np.random.default_rng(3)
    dec = model.get_layer("dec1_0")   # outputs spread over [0, 1] rather than clipped flat
    dec.kernel.assign(rng.normal(0, 0.02, dec.kernel.shape).astype(np.float32))
    dec.bias.assign(np.full(dec.bias.shape, 0.5, np.float32))
    return model


@pytest.fixture(scope="module")
def gray_model():
    model = build_srn("gray")
    dec = model.get_layer("dec1_0")
    dec.bias.assign(np.full(dec.bias.shape, 0.5, np.float32))
    return model


def reference_deblur(model, image_float):
    """Independent re-statement of the release's test path for a float H×W×C image."""
    h, w = image_float.shape[:2]
    padded = np.pad(image_float, ((0, -h % 16), (0, -w % 16), (0, 0)), mode="edge")
    finest = model(padded[None])[-1].numpy()[0]
    return np.clip(finest[:h, :w], 0, 1)


def test_rgb_uint8_odd_size(color_model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = deblur(color_model, image)
    assert out.shape == image.shape and out.dtype == np.uint8
    expected = (reference_deblur(color_model, image / np.float32(255)) * 255).astype(np.uint8)
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert (out == expected).mean() > 0.99
    assert len(np.unique(out)) > 10   # a real image, not a constant


def test_tiny_image(color_model):
    out = deblur(color_model, np.full((1, 1, 3), 200, np.uint8))
    assert out.shape == (1, 1, 3)


def test_uint16_is_scaled_and_returned_as_uint16(color_model):
    rng = np.random.default_rng(1)
    image8 = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    image16 = image8.astype(np.uint16) * 257
    out16 = deblur(color_model, image16)
    assert out16.dtype == np.uint16
    expected = reference_deblur(color_model, image8 / np.float32(255)) * 65535
    assert np.abs(out16.astype(np.float64) - expected).max() <= 2.0


def test_grayscale_into_color_model(color_model):
    gray = np.random.default_rng(2).integers(0, 256, (30, 40), dtype=np.uint8)
    out = deblur(color_model, gray)
    assert out.shape == (30, 40) and out.dtype == np.uint8
    rgb = reference_deblur(color_model, np.repeat(gray[:, :, None] / np.float32(255), 3, axis=2))
    assert np.abs(out.astype(float) - rgb.mean(axis=2) * 255).max() <= 1.5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_result_is_the_rounded_mean_of_rgb(dtype):
    """Grey into a color model: the result is round(mean of R, G, B), computed without a
    float64 copy of the image (deblur_with's integer form, against numpy's rounded mean)."""
    from srn_tf.inference import deblur_with
    rgb = np.random.default_rng(5).integers(0, np.iinfo(dtype).max, (64, 64, 3),
                                            dtype=dtype, endpoint=True)
    grey = np.zeros((64, 64), dtype)
    out = deblur_with(lambda batch: rgb[None], "color", grey)
    assert out.shape == grey.shape and out.dtype == dtype
    np.testing.assert_array_equal(out, np.round(rgb.mean(axis=2)).astype(dtype))


def test_alpha_is_carried_through_unchanged(color_model, gray_model):
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (20, 20, 1), dtype=np.uint8)
    out = deblur(color_model, np.concatenate([rgb, alpha], axis=2))
    assert out.shape == (20, 20, 4)
    np.testing.assert_array_equal(out[:, :, :3], deblur(color_model, rgb))
    np.testing.assert_array_equal(out[:, :, 3:], alpha)
    grey = rgb[:, :, :1]                       # grey + alpha (H×W×2), as an LA PNG decodes
    for model in (color_model, gray_model):
        out = deblur(model, np.concatenate([grey, alpha], axis=2))
        assert out.shape == (20, 20, 2)
        np.testing.assert_array_equal(out[:, :, :1], deblur(model, grey))
        np.testing.assert_array_equal(out[:, :, 1:], alpha)


def test_gray_model_deblurs_rgb_channel_by_channel(gray_model):
    rgb = np.random.default_rng(5).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    out = deblur(gray_model, rgb)
    assert out.shape == rgb.shape
    for c in range(3):
        alone = deblur(gray_model, rgb[:, :, c])
        assert np.abs(out[:, :, c].astype(int) - alone).max() <= 1


def test_bad_images_are_refused(color_model):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        deblur(color_model, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        deblur(color_model, np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        deblur(color_model, np.zeros((0, 8, 3), np.uint8))


def test_one_trace_for_every_size():
    model = build_srn("color")
    for shape in ((20, 30, 3), (31, 17, 3), (40, 30, 3), (16, 16)):
        deblur(model, np.zeros(shape, np.uint8))
    assert compiled_restore(model).experimental_get_tracing_count() == 1
    deblur(model, np.zeros((20, 30, 3), np.uint16))
    assert compiled_restore(model, np.uint16).experimental_get_tracing_count() == 1


# ---- tiling, precision, XLA ---------------------------------------------------------------

from conftest import REAL_BLUR_DIR, near_identity_model  # noqa: E402
from srn_tf.restore import restore_batch  # noqa: E402
from srn_tf.tiling import DEFAULT_OVERLAP, plan_tiles  # noqa: E402


@pytest.fixture(scope="module")
def identity_like():
    return near_identity_model("color")


def test_near_identity_stand_in_is_image_like(identity_like):
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = deblur(identity_like, image)
    diff = np.abs(out.astype(int) - image)
    assert 0 < np.mean(diff) < 40 and np.corrcoef(out.ravel(), image.ravel())[0, 1] > 0.9


def photo(height, width):
    """A real photograph crop when ../shared is there, else a smooth synthetic scene."""
    import glob
    files = sorted(glob.glob(os.path.join(REAL_BLUR_DIR, "*.png")))
    if files:
        from srn_tf.image_io import read_image
        return read_image(files[0])[:height, :width, :3]
    y, x = np.mgrid[0:height, 0:width]
    scene = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 40 * ((x // 20 + y // 20) % 2)
    return np.clip(np.stack([scene, scene * 0.8, 255 - scene], -1), 0, 255).astype(np.uint8)


def test_tiled_equals_whole_within_the_bound(identity_like):
    image = photo(200, 328)
    whole = deblur(identity_like, image, tile=0)
    tiled = deblur(identity_like, image, tile=(96, 128), overlap=64)
    far = np.abs(tiled.astype(int) - whole) > 1
    assert far.mean() <= 0.001, far.mean()
    # Without blending (tiles butted, no overlap) seams do show: the bound can fail.
    butted = deblur(identity_like, image, tile=(96, 128), overlap=0)
    assert (np.abs(butted.astype(int) - whole) > 1).mean() > 0.001


def test_a_tile_as_large_as_the_image_is_exactly_untiled(identity_like):
    image = photo(45, 70)
    np.testing.assert_array_equal(deblur(identity_like, image, tile=80, overlap=32),
                                  deblur(identity_like, image, tile=0))


@pytest.mark.parametrize("shape", [(37, 300), (300, 41), (130, 130)])
def test_tiling_odd_sizes(identity_like, shape):
    image = photo(*shape)
    tiled = deblur(identity_like, image, tile=64, overlap=32)
    assert tiled.shape == image.shape
    assert (np.abs(tiled.astype(int) - deblur(identity_like, image, tile=0)) > 1).mean() < 0.01


def test_tile_size_from_a_memory_budget():
    budget = 1280 * 720 * 720
    assert plan_tiles(720, 1280, budget) == (0, 0)
    for height, width in ((721, 1280), (1080, 1920), (2160, 3840), (5000, 300)):
        tile_h, tile_w = plan_tiles(height, width, budget)
        assert tile_h % 16 == 0 and tile_w % 16 == 0
        assert tile_h * tile_w * 720 <= budget
        assert tile_h > DEFAULT_OVERLAP and tile_w > DEFAULT_OVERLAP
    assert plan_tiles(1080, 1920, budget)[0] == 1088   # one row of tiles: no needless overlap
    with pytest.raises(ValueError, match="too small"):
        plan_tiles(4000, 4000, 100 * 100 * 720)
    with pytest.raises(ValueError, match="multiples of 16"):
        deblur(build_srn("color"), np.zeros((40, 40, 3), np.uint8), tile=20)


def test_float32_with_and_without_xla_agree(identity_like):
    import tensorflow as tf
    x = tf.constant(np.random.default_rng(0).random((1, 48, 80, 3), dtype=np.float32))
    plain = restore_batch(identity_like, x, "color")
    xla = tf.function(lambda images, training=False: identity_like(images, training=training),
                      jit_compile=True)
    compiled = restore_batch(xla, x, "color")
    assert np.abs(plain.numpy() - compiled.numpy()).max() <= 1e-5
    image = photo(48, 80)
    assert np.abs(deblur(identity_like, image, jit_compile=True).astype(int) -
                  deblur(identity_like, image)).max() <= 1


def test_bfloat16_runs_close_to_float32(identity_like):
    image = photo(64, 96)
    ours = deblur(identity_like, image, precision="bfloat16")
    diff = np.abs(ours.astype(int) - deblur(identity_like, image))
    assert ours.shape == image.shape and diff.mean() < 1.0 and diff.max() <= 8
    with pytest.raises(ValueError, match="precision"):
        deblur(identity_like, image, precision="float16")


# ---- tiles from Python: memory flat in image size, results as the in-graph blend ----------

def in_graph_tiled(model, images, tile_size, overlap):
    """The tiled blend as one graph (a while loop over tiles; the SavedModel's `--tile`), traced
    with dynamic shapes as the SavedModel's is."""
    import tensorflow as tf
    from srn_tf.tf_graph import restore_integer_batch
    blend = tf.function(lambda x, size, overlap: restore_integer_batch(model, x, "color", size,
                                                                        overlap),
                        input_signature=[tf.TensorSpec([None] * 4, images.dtype),
                                         tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.int32)])
    return blend(tf.constant(images), tf.constant(tile_size), tf.constant(overlap)).numpy()


@pytest.mark.parametrize("shape,tile,overlap", [
    ((200, 300), (64, 96), 32),     # 6 × 5 tiles: rows and columns carried over
    ((100, 170), (48, 80), 32),     # last tiles flush with the end, three deep in overlap
    ((90, 60), (208, 32), 16),      # one row of tiles (tile taller than the image)
])
def test_tiles_from_python_equal_the_in_graph_blend(identity_like, shape, tile, overlap):
    image = photo(*shape)
    ours = deblur(identity_like, image, tile=tile, overlap=overlap)
    np.testing.assert_array_equal(ours, in_graph_tiled(identity_like, image[None], tile,
                                                       overlap)[0])


def test_tiles_from_python_equal_the_in_graph_blend_uint16_batch(identity_like):
    from srn_tf.inference import deblur_batch
    images = np.stack([photo(80, 112), photo(80, 112)[::-1, ::-1]]).astype(np.uint16) * 257
    np.testing.assert_array_equal(deblur_batch(identity_like, images, tile=48, overlap=16),
                                  in_graph_tiled(identity_like, images, (48, 48), 16))


@pytest.mark.slow
def test_large_image_small_tiles_close_to_whole(identity_like):
    image = photo(260, 400)
    whole = deblur(identity_like, image, tile=0)
    tiled = deblur(identity_like, image, tile=(96, 128), overlap=64)
    assert (np.abs(tiled.astype(int) - whole) > 1).mean() <= 0.001


def test_progress_counts_the_tiles(identity_like):
    calls = []
    deblur(identity_like, photo(100, 170), tile=(48, 80), overlap=32,
           progress=lambda done, total: calls.append((done, total)))
    # along 112 padded rows: starts 0, 16, 32, 48, 64 (step 16, last flush); along 176: 0, 48, 96
    assert calls == [(k, 15) for k in range(1, 16)]
    calls.clear()
    deblur(identity_like, photo(40, 50), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


def test_deblur_command_shows_tiles_done(capsys):
    from srn_tf.deblur_lib import tile_progress_bar
    progress = tile_progress_bar()
    progress(1, 1)                                  # an image that runs whole: no bar
    assert "tiles" not in capsys.readouterr().err
    for done in (1, 2):
        progress(done, 3)
    shown = capsys.readouterr().err
    assert "tiles" in shown and "/3 " in shown   # tiles done / 3
