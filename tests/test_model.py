import keras
import numpy as np
import pytest
import tensorflow as tf

from srn_tf.layers import legacy_resize
from srn_tf.model import PARAM_COUNTS, build_srn, model_type_of


@pytest.fixture(scope="module")
def models():
    return {t: build_srn(t) for t in ("color", "gray", "lstm")}


@pytest.mark.parametrize("model_type,count", [("color", 6_881_251), ("gray", 6_876_449),
                                              ("lstm", 8_056_609)])
def test_parameter_counts_match_the_release(models, model_type, count):
    assert models[model_type].count_params() == count == PARAM_COUNTS[model_type]


def test_unknown_model_type_is_refused():
    with pytest.raises(ValueError, match="model_type must be one of"):
        build_srn("rgb")


@pytest.mark.parametrize("model_type,channels", [("color", 3), ("lstm", 1)])
def test_dynamic_sizes_through_one_model(models, model_type, channels):
    model = models[model_type]
    for shape in ((1, 64, 64), (3, 96, 128)):
        outputs = model(np.random.rand(*shape, channels).astype(np.float32))
        n, h, w = shape
        assert [tuple(o.shape) for o in outputs] == [
            (n, h // 4, w // 4, channels), (n, h // 2, w // 2, channels), (n, h, w, channels)]


def test_one_set_of_weights_serves_all_levels(models):
    model = models["lstm"]
    paths = [v.path for v in model.weights]
    assert len(paths) == len(set(paths))
    # 1 + 3 ResBlocks per encoder stage and 3 per decoder stage, 2 deconvs, the output conv,
    # the ConvLSTM: each called once per level.
    for name in ("enc1_1", "enc2_4", "convLSTM", "dec2_4", "dec1_0"):
        assert len(model.get_layer(name)._inbound_nodes) == 3, name
    # A change of a weight changes the coarsest level (used by level 0 too, not a copy).
    x = np.random.rand(1, 64, 64, 1).astype(np.float32)
    before = model(x)[0].numpy()
    bias = model.get_layer("dec1_0").bias
    bias.assign(bias + 0.5)
    np.testing.assert_allclose(model(x)[0].numpy(), before + 0.5, atol=1e-5)
    bias.assign(bias - 0.5)


def test_layer_names_follow_the_release_scopes(models):
    paths = {v.path for v in models["lstm"].weights}
    assert {"enc1_1/kernel", "enc1_2/conv1/kernel", "enc1_2/conv2/bias", "dec2_4/kernel",
            "dec1_0/bias", "convLSTM/LSTM_conv/kernel"} <= paths
    assert tuple(models["lstm"].get_layer("dec2_4").kernel.shape) == (4, 4, 64, 128)
    assert tuple(models["color"].get_layer("enc1_1").kernel.shape) == (5, 5, 6, 32)
    assert tuple(models["gray"].get_layer("enc1_1").kernel.shape) == (5, 5, 2, 32)


def test_initialisation(models):
    model = models["lstm"]
    for v in model.weights:
        if v.path.endswith("bias"):
            assert not np.any(v.numpy()), v.path
    kernel = model.get_layer("enc3_2").conv1.kernel.numpy()      # 5·5·128 in, 5·5·128 out
    limit = np.sqrt(6.0 / (2 * 25 * 128))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    lstm = model.get_layer("convLSTM").conv.kernel.numpy()
    assert 0.7e-3 < lstm.std() < 1e-3 and np.abs(lstm).max() <= 2e-3   # truncated at 2σ


def test_model_type_is_read_back_from_the_structure(models):
    assert {t: model_type_of(m) for t, m in models.items()} == {
        "color": "color", "gray": "gray", "lstm": "lstm"}


def test_legacy_resize_is_not_tf2_resize():
    x = tf.random.uniform((1, 16, 16, 1))
    legacy = legacy_resize(x, [8, 8])
    # Without half-pixel centres, a 2× downscale samples the even pixels exactly.
    np.testing.assert_allclose(legacy.numpy(), x.numpy()[:, ::2, ::2, :], atol=1e-7)
    assert np.abs(tf.image.resize(x, [8, 8]).numpy() - legacy.numpy()).max() > 1e-3


@pytest.mark.parametrize("model_type,channels", [("color", 3), ("lstm", 1)])
def test_keras_file_round_trip(models, tmp_path, model_type, channels):
    model = models[model_type]
    rng = np.random.default_rng(0)
    for v in model.weights:   # non-trivial weights, so the round trip has something to lose
        v.assign(v.numpy() + rng.normal(0, 0.01, v.shape).astype(np.float32))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = rng.random((2, 64, 96, channels), dtype=np.float32)
    for a, b in zip(model(x), loaded(x)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.count_params() == model.count_params()
    assert model_type_of(loaded) == model_type


def test_every_custom_layer_config_round_trips():
    """get_config → from_config gives the same config (the other backends: test_backends.py)."""
    from srn_tf import layers
    for layer in (layers.ScaleResize(0.25, name="s"), layers.ResizeLike(name="r"),
                  layers.StopGradient(name="g"), layers.ResBlock(64, 3, name="b"),
                  layers.ConvLSTMCell(16, 3, 0.5, name="c")):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config and again.name == layer.name


def test_release_resize_in_keras_ops_equals_tensorflows_op():
    """resize_with_ops (what JAX and PyTorch run) against ResizeBilinear(half_pixel_centers=False)
    on the TensorFlow backend, many sizes up and down, odd ones included."""
    from srn_tf.layers import resize_with_ops
    rng = np.random.default_rng(1)
    for source in ((5, 7), (16, 16), (23, 37), (45, 80), (1, 1), (180, 320)):
        x = rng.random((2,) + source + (3,), dtype=np.float32)
        h, w = source
        for size in ((max(h // 2, 1), max(w // 2, 1)), (2 * h, 2 * w), (max(h // 4, 1), 5),
                     (h + 1, max(w - 1, 1)), (3 * h, 7), (h, w)):
            expected = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False,
                                                 half_pixel_centers=False).numpy()
            assert np.abs(resize_with_ops(x, size).numpy() - expected).max() <= 1e-6, size
