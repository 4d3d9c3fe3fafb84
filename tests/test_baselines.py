import keras
import numpy as np
import pytest

from srn_tf import train_lib
from srn_tf.baselines import PARAM_COUNTS
from srn_tf.inference import deblur
from srn_tf.model import as_levels, build_model, model_type_of


def conv(k, cin, cout):
    return k * k * cin * cout + cout


EXPECTED = {
    "cnn": conv(9, 3, 64) + conv(5, 64, 32) + conv(5, 32, 3),
    "autoencoder": (conv(3, 3, 32) + conv(3, 32, 64) + conv(3, 64, 128) + conv(3, 128, 128) +
                    conv(4, 128, 64) + conv(3, 64, 64) + conv(4, 64, 32) + conv(3, 32, 32) +
                    conv(3, 32, 3)),
}


@pytest.mark.parametrize("model_type", ["cnn", "autoencoder"])
def test_builds_and_round_trips(model_type, tmp_path):
    model = build_model(model_type)
    assert model.count_params() == EXPECTED[model_type] == PARAM_COUNTS[model_type]
    assert model_type_of(model) == model_type
    x = np.random.default_rng(0).random((2, 32, 48, 3), dtype=np.float32)
    outputs = as_levels(model(x))
    assert len(outputs) == 1 and outputs[0].shape == (2, 32, 48, 3)
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_array_equal(as_levels(loaded(x))[0].numpy(), outputs[0].numpy())
    assert model_type_of(loaded) == model_type
    image = np.random.default_rng(1).integers(0, 256, (21, 30, 3), dtype=np.uint8)
    assert deblur(loaded, image).shape == image.shape


@pytest.mark.parametrize("model_type", ["cnn", "autoencoder"])
def test_trains_a_few_steps(model_type, tmp_path):
    from test_data import make_gopro_tree
    root = make_gopro_tree(tmp_path / "data", split="train", size=(32, 32))
    make_gopro_tree(tmp_path / "data", split="test", size=(32, 32), frames=1, seed=1)
    result = train_lib.train_and_evaluate(train_lib.TrainConfig(
        data=root, workdir=str(tmp_path / "w"), model_type=model_type, batch_size=2,
        crop_size=16, train_steps=3, eval_images=1, export_saved_model=False))
    assert result["step"] == 3 and model_type_of(keras.models.load_model(result["keras_path"])) \
        == model_type
