import keras
import numpy as np
import pytest
import tensorflow as tf

from srn_tf.init import apply_init, identity_init, zero_init_residual
from srn_tf.layers import ResBlock
from srn_tf.losses import multiscale_l2
from srn_tf.model import as_levels, build_model, build_srn


def built(model_type, init=None, policy=None):
    keras.utils.set_random_seed(0)
    model = build_srn(model_type, policy)
    return apply_init(model, init) if init else model


def expected_levels(x):
    # Without half-pixel centres a 1/s downscale samples every s-th pixel exactly.
    return [x[:, ::4, ::4], x[:, ::2, ::2], x]


@pytest.mark.parametrize("model_type", ["color", "gray", "lstm"])
def test_identity_init_returns_the_input_at_every_level(model_type):
    model = built(model_type, "identity")
    channels = model.input_shape[-1]
    x = np.random.default_rng(1).random((2, 64, 96, channels), dtype=np.float32)
    for level, expected in zip(as_levels(model(x)), expected_levels(x)):
        np.testing.assert_allclose(level.numpy(), expected, atol=1e-6, rtol=0)
    # and not by accident: the release's init is far from it
    xavier = as_levels(built(model_type)(x))[-1].numpy()
    assert np.abs(xavier - x).max() > 0.1


@pytest.mark.parametrize("model_type", ["color", "lstm"])
def test_identity_init_gives_every_variable_a_gradient_on_the_first_step(model_type):
    model = built(model_type, "identity")
    channels = model.input_shape[-1]
    rng = np.random.default_rng(2)
    blur = rng.random((2, 64, 64, channels), dtype=np.float32)
    sharp = rng.random((2, 64, 64, channels), dtype=np.float32)
    with tf.GradientTape() as tape:
        total, _ = multiscale_l2(sharp, as_levels(model(blur, training=True)))
    grads = tape.gradient(total, model.trainable_variables)
    dead = [v.path for v, g in zip(model.trainable_variables, grads)
            if g is None or not np.any(g.numpy())]
    assert dead == []
    # the zeroed-conv recipe would leave most of them without one: check the test sees it
    zeroed = built(model_type, "zero_residual")
    with tf.GradientTape() as tape:
        total, _ = multiscale_l2(sharp, as_levels(zeroed(blur, training=True)))
    grads = tape.gradient(total, zeroed.trainable_variables)
    assert sum(not np.any(g.numpy()) for g in grads) == 18 * 2    # every conv1 kernel and bias


def test_identity_init_under_bfloat16_is_exact_to_bfloat16_rounding():
    model = built("color", "identity", policy="mixed_bfloat16")
    x = np.random.default_rng(3).random((1, 32, 48, 3), dtype=np.float32)
    finest = as_levels(model(x))[-1].numpy()
    assert np.abs(finest - x).max() <= 2.0 ** -8      # half a bfloat16 step below 1


def test_xavier_is_the_release_init_untouched():
    a, b = built("color"), built("color", "xavier")
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_zero_init_residual_makes_every_block_the_identity():
    model = built("color")
    blocks = [layer for layer in model.layers if isinstance(layer, ResBlock)]
    x = tf.random.uniform([1, 16, 16, 32], seed=1)
    assert np.abs(blocks[0](x).numpy() - x.numpy()).max() > 1e-3     # Xavier: not the identity
    assert zero_init_residual(model) == len(blocks) == 18
    for block in blocks:
        features = tf.random.uniform([1, 16, 16, block.filters], seed=2)
        np.testing.assert_array_equal(block(features).numpy(), features.numpy())
    # everything else keeps its Xavier init
    assert np.abs(model.get_layer("enc1_1").kernel.numpy()).max() > 0


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="init must be one of"):
        apply_init(built("color"), "orthogonal")
    with pytest.raises(ValueError, match="SRN model"):
        identity_init(build_model("cnn"))
