import logging

import numpy as np
import pytest

from srn_tf.inference import compiled_restore, deblur
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


def test_rgba_drops_alpha_with_a_warning(color_model, caplog):
    rgb = np.random.default_rng(4).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((20, 20, 1), 7, np.uint8)], axis=2)
    with caplog.at_level(logging.WARNING):
        out = deblur(color_model, rgba)
    assert "alpha" in caplog.text
    np.testing.assert_array_equal(out, deblur(color_model, rgb))


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
        deblur(color_model, np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        deblur(color_model, np.zeros((0, 8, 3), np.uint8))


def test_one_trace_for_every_size():
    model = build_srn("color")
    for shape in ((20, 30, 3), (31, 17, 3), (40, 30, 3), (16, 16)):
        deblur(model, np.zeros(shape, np.uint8))
    assert compiled_restore(model).experimental_get_tracing_count() == 1
    deblur(model, np.zeros((20, 30, 3), np.uint16))
    assert compiled_restore(model, np.uint16).experimental_get_tracing_count() == 1
