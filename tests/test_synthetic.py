import numpy as np
import pytest
import tensorflow as tf

from srn_tf import data, metrics, synthetic
from srn_tf.errors import DataError


@pytest.fixture(scope="module")
def photos():
    return tf.constant(synthetic.training_photos())


def pair(photos, seed, index, size=64):
    blur, sharp = synthetic.render_pair(tf.constant([seed, index], tf.int64), size, photos)
    return blur.numpy(), sharp.numpy()


@pytest.mark.slow
def test_a_pair_is_a_function_of_seed_and_index(photos):
    first = pair(photos, 5, 17)
    again = pair(photos, 5, 17)
    assert first[0].dtype == np.uint8 and first[0].shape == first[1].shape == (64, 64, 3)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    for other in (pair(photos, 5, 18), pair(photos, 6, 17)):
        assert not np.array_equal(first[1], other[1])


def test_blur_is_present_and_of_a_stated_strength(photos):
    psnrs = [metrics.psnr(*pair(photos, 0, i)[::-1]) for i in range(24)]
    # Every pair is blurred (14–40 dB), half of them below 26 dB: stronger blur than the embedded
    # test split's 27.9 dB on whole photos, on crops full of edges.
    assert all(14.0 < p < 40.0 for p in psnrs), psnrs
    assert 16.0 < np.median(psnrs) < 26.0, psnrs


def test_without_motion_the_pair_differs_only_by_noise(photos, monkeypatch):
    for name in ("MAX_CAMERA_BLUR", "MAX_OBJECT_BLUR", "MAX_CAMERA_SPIN_DEG",
                 "MAX_OBJECT_SPIN_DEG", "MAX_SHAKE"):
        monkeypatch.setattr(synthetic, name, 0.0)
    render = tf.function(synthetic._render)    # traced afresh with the patched constants
    for i in range(6):
        blur, sharp, _, _ = render(tf.constant([0, i], tf.int64), 64, photos)
        error = blur.numpy().astype(float) - sharp.numpy()
        # what is left is the noise: σ = √(a² + b·x) ≤ 3.3 grey levels, no JPEG here
        assert np.abs(error).mean() < 3.0 and metrics.psnr(sharp.numpy(), blur.numpy()) > 36.0


@pytest.mark.slow
def test_training_stream_resumes_at_any_step():
    kwargs = dict(crop_size=32, batch_size=3, model_type="color", seed=4)
    straight = list(synthetic.make_train_dataset(**kwargs).take(3))
    resumed = next(iter(synthetic.make_train_dataset(start_step=2, **kwargs)))
    for a, b in zip(straight[2], resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    blur, sharp = straight[0]
    assert blur.shape == (3, 32, 32, 3) and blur.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(blur)) and float(tf.reduce_max(blur)) <= 1.0
    gray = next(iter(synthetic.make_train_dataset(**{**kwargs, "model_type": "lstm"})))
    assert gray[0].shape == (3, 32, 32, 1)


def test_shards_hold_their_slices_of_the_global_batch():
    kwargs = dict(crop_size=32, batch_size=4, seed=1)
    whole = next(iter(synthetic.make_train_dataset(**kwargs)))[1].numpy()
    second = next(iter(synthetic.make_train_dataset(num_shards=2, shard_index=1, **kwargs)))[1]
    np.testing.assert_array_equal(second.numpy(), whole[2:])


@pytest.mark.slow
def test_validation_pairs_are_not_training_pairs(photos):
    validation = synthetic.validation_pairs(2, size=64)
    training = [pair(photos, 0, i) for i in range(2)]
    for (vb, vs), (tb, ts) in zip(validation, training):
        assert vs.shape == (64, 64, 3) and not np.array_equal(vs, ts)


def test_mixture_parsing_and_batch_shares():
    assert data.parse_mixture("embedded") is None
    assert data.parse_mixture("synthetic") == [("synthetic", 1.0)]
    mixture = data.parse_mixture("synthetic,embedded:0.3")
    assert mixture == [("synthetic", 1.0), ("embedded", 0.3)]
    assert data.mixture_batch_sizes(mixture, 4) == [3, 1]        # 3.08 and 0.92
    assert data.mixture_batch_sizes(mixture, 16) == [12, 4]      # 12.3 and 3.7
    assert data.parse_mixture("synthetic,tfds:gopro:2") == [("synthetic", 1.0), ("tfds:gopro", 2.0)]
    assert data.held_out_source("synthetic") == "embedded"
    assert data.held_out_source("synthetic,/data/GOPRO:2") == "/data/GOPRO"
    assert data.is_builtin("synthetic,embedded:0.3") and not data.is_builtin("synthetic,/x")
    for bad in ("synthetic,embedded:0", "synthetic,embedded:-1", "synthetic,"):
        with pytest.raises(DataError, match="positive weight"):
            data.parse_mixture(bad)
    with pytest.raises(DataError, match="get no crop"):
        data.mixture_batch_sizes(data.parse_mixture("synthetic,embedded:0.01"), 4)


@pytest.mark.slow
def test_mixed_batches_hold_both_sources_and_resume(embedded_dir):
    kwargs = dict(crop_size=32, batch_size=4, seed=2, cache=True)
    source = f"synthetic,{embedded_dir}:0.3"
    straight = list(data.make_train_dataset(source, **kwargs).take(2))
    resumed = next(iter(data.make_train_dataset(source, start_step=1, **kwargs)))
    for a, b in zip(straight[1], resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    synthetic_part = next(iter(synthetic.make_train_dataset(crop_size=32, batch_size=3, seed=2)))
    embedded_part = next(iter(data.make_train_dataset(embedded_dir, **{**kwargs, "batch_size": 1})))
    for i in range(2):
        np.testing.assert_array_equal(straight[0][i][:3].numpy(), synthetic_part[i].numpy())
        np.testing.assert_array_equal(straight[0][i][3:].numpy(), embedded_part[i].numpy())
