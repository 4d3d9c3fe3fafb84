import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from srn_tf import build_srn, deblur, export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{type: (model, loaded SavedModel, folder)} for a color and a gray model."""
    made = {}
    for model_type in ("color", "gray"):
        model = build_srn(model_type)
        dec = model.get_layer("dec1_0")
        dec.bias.assign(np.full(dec.bias.shape, 0.5, np.float32))   # outputs away from the clip
        folder = str(tmp_path_factory.mktemp(model_type) / "export")
        export.export(model, folder, weights_source="test")
        made[model_type] = (model, tf.saved_model.load(folder), folder)
    return made


def serve(loaded, images):
    return loaded.signatures["serving_default"](images=tf.constant(images))["deblurred"].numpy()


@pytest.mark.parametrize("model_type", ["color", "gray"])
@pytest.mark.parametrize("shape", [(1, 37, 53), (1, 45, 18), (3, 20, 33), (2, 45, 18)])
def test_serving_equals_deblur(exported, model_type, shape):
    """Odd sizes, portrait, batches. One image: bit-identical to deblur. A batch runs as one
    tensor, where oneDNN may sum in another order: then within a grey level."""
    model, loaded, _ = exported[model_type]
    images = np.random.default_rng(sum(shape)).integers(0, 256, shape + (3,), dtype=np.uint8)
    out = serve(loaded, images)
    assert out.shape == images.shape and out.dtype == np.uint8
    for image, result in zip(images, out):
        expected = deblur(model, image)
        if len(images) == 1:
            np.testing.assert_array_equal(result, expected)
        else:
            difference = np.abs(result.astype(int) - expected)
            assert difference.max() <= 1 and (difference > 0).mean() < 0.005


def test_tiled_export(tmp_path):
    from conftest import near_identity_model
    model = near_identity_model("color")
    folder = str(tmp_path / "tiled")
    export.export(model, folder, tile=64, overlap=32)
    image = np.random.default_rng(2).integers(0, 256, (100, 150, 3), dtype=np.uint8)
    np.testing.assert_array_equal(serve(tf.saved_model.load(folder), image[None])[0],
                                  deblur(model, image, tile=64, overlap=32))


@pytest.mark.slow
def test_large_odd_image_equals_deblur_exactly(exported):
    model, loaded, _ = exported["color"]
    image = np.random.default_rng(0).integers(0, 256, (721, 1283, 3), dtype=np.uint8)
    # The export runs whole images unless exported with a tile; deblur would tile this size.
    np.testing.assert_array_equal(serve(loaded, image[None])[0], deblur(model, image, tile=0))


def test_levels_signature_and_metadata(exported):
    model, loaded, folder = exported["gray"]
    x = np.random.default_rng(1).random((2, 32, 48, 1), dtype=np.float32)
    levels = loaded.signatures["levels"](images=tf.constant(x))
    for i, expected in enumerate(model(x)):
        np.testing.assert_allclose(levels[f"level{i}"].numpy(), expected.numpy(), atol=1e-6)
    assert loaded.model_type.numpy() == b"gray"
    assert loaded.weights_source.numpy() == b"test"
    assert os.path.isfile(os.path.join(folder, "assets", export.METADATA_ASSET))
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 16"):
        loaded.signatures["levels"](images=tf.zeros((1, 20, 32, 1)))


@pytest.mark.slow
def test_saved_model_cli_lists_both_signatures(exported):
    folder = exported["color"][2]
    cli = shutil.which("saved_model_cli")
    command = [cli] if cli else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(command + ["show", "--dir", folder, "--all"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "signature_def['serving_default']" in result.stdout
    assert "signature_def['levels']" in result.stdout
    assert "dtype: DT_UINT8" in result.stdout and "shape: (-1, -1, -1, 3)" in result.stdout


def test_replacement_is_atomic(tmp_path, monkeypatch):
    target = str(tmp_path / "export")
    export.export(build_srn("gray"), target, weights_source="first")
    before = sorted(os.listdir(target))

    def broken_save(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export.export(build_srn("gray"), target, weights_source="second")
    monkeypatch.undo()
    assert sorted(os.listdir(target)) == before
    assert tf.saved_model.load(target).weights_source.numpy() == b"first"
    assert sorted(os.listdir(tmp_path)) == ["export"]   # no temporary folders left
    export.export(build_srn("gray"), target, weights_source="third")
    assert tf.saved_model.load(target).weights_source.numpy() == b"third"
    assert sorted(os.listdir(tmp_path)) == ["export"]
