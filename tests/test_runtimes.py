"""`srn_tf.deblur(..., runtime=)` and `deblur.py --runtime=`: OpenVINO and ONNX Runtime against
TensorFlow's results (srn_tf/runtimes.py)."""

import numpy as np
import pytest

from conftest import near_identity_model, run_script
from srn_tf import deblur, runtimes
from srn_tf.image_io import read_image, write_png
from test_inference import photo

SHAPE = (90, 150)   # non-square, neither side a multiple of 16: the padding is in the graph


@pytest.fixture(scope="module")
def models():
    return {model_type: near_identity_model(model_type) for model_type in ("color", "lstm")}


def assert_within_a_grey_level(result, expected):
    """uint8 results: equal on ≥ 99.99 % of values, never more than one grey level apart."""
    assert result.dtype == expected.dtype and result.shape == expected.shape
    difference = np.abs(result.astype(int) - expected)
    assert (difference == 0).mean() >= 0.9999, (difference > 0).sum()
    assert difference.max() <= 1
    assert len(np.unique(expected)) > 50   # image-like results, not a clipped constant


# Each runtime and each model type once (the suite's time budget): the conversion and the
# runtimes' graphs do not depend on which of the two runtimes runs them.
@pytest.mark.parametrize("runtime, model_type", [("openvino", "color"), ("onnxruntime", "lstm"),
                                                 ("onnxruntime", "color")])
def test_float32_matches_tensorflow(models, runtime, model_type):
    """RGB photo for both: lstm deblurs R, G and B as three grey images, as the TF path does."""
    model, image = models[model_type], photo(*SHAPE)
    assert_within_a_grey_level(deblur(model, image, tile=0, runtime=runtime),
                               deblur(model, image, tile=0))


def test_tiles_as_tensorflow_does(models):
    """Small tiles: the same tiles and blend as the TF path, each tile on OpenVINO."""
    model, image = models["color"], photo(100, 150)
    calls = []
    result = deblur(model, image, tile=48, overlap=16, runtime="openvino",
                    progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] > 4
    assert_within_a_grey_level(result, deblur(model, image, tile=48, overlap=16))


def test_grey_and_16_bit_images(models):
    """An H×W uint16 image on the lstm model (÷ 65535 in, × 65535 out) and an H×W uint8 one on
    the color model (replicated to RGB, averaged back), as the TF path does."""
    gray16 = (photo(*SHAPE)[:, :, 1].astype(np.uint16) * 256
              + np.arange(SHAPE[1], dtype=np.uint16) % 256)
    result = deblur(models["lstm"], gray16, runtime="onnxruntime")
    expected = deblur(models["lstm"], gray16)
    assert result.dtype == np.uint16 and result.shape == SHAPE
    # 16 bits resolve the runtimes' float rounding (~1e-5): within 1/64 of an 8-bit grey level
    assert np.abs(result.astype(int) - expected).max() <= 4
    gray8 = photo(*SHAPE)[:, :, 1]
    result = deblur(models["color"], gray8, runtime="onnxruntime")
    assert result.shape == SHAPE
    assert np.abs(result.astype(int) - deblur(models["color"], gray8)).max() <= 1


def test_openvino_bfloat16_is_close(models):
    from skimage.metrics import peak_signal_noise_ratio
    model, image = models["color"], photo(*SHAPE)
    result = deblur(model, image, runtime="openvino", precision="bfloat16")
    assert peak_signal_noise_ratio(deblur(model, image), result, data_range=255) > 35


def test_compiled_once_per_model_and_precision(models, monkeypatch):
    model, image = models["color"], photo(*SHAPE)
    first = deblur(model, image, runtime="onnxruntime")

    def unexpected(*args):
        raise AssertionError("converted or compiled again")
    monkeypatch.setattr(runtimes, "onnx_proto", unexpected)
    monkeypatch.setattr(runtimes, "compile_onnx", unexpected)
    np.testing.assert_array_equal(deblur(model, image, runtime="onnxruntime"), first)


def test_options_a_runtime_cannot_take(models, monkeypatch):
    with pytest.raises(ValueError, match="onnxruntime runs float32 only"):
        runtimes.check_runtime("onnxruntime", "bfloat16")
    with pytest.raises(ValueError, match="choose one of keras, openvino, onnxruntime"):
        runtimes.check_runtime("tensorrt")
    with pytest.raises(ValueError, match="--jit_compile"):
        runtimes.check_runtime("openvino", jit_compile=True)
    real_find_spec = runtimes.importlib.util.find_spec
    monkeypatch.setattr(runtimes.importlib.util, "find_spec",
                        lambda name: None if name == "openvino" else real_find_spec(name))
    with pytest.raises(ImportError, match="python -m pip install openvino") as error:
        deblur(models["color"], photo(16, 16), runtime="openvino")
    assert error.value.name == "openvino"


@pytest.mark.slow
def test_deblur_cli_runtime(tmp_path):
    """deblur.py --runtime=openvino end to end; --runtime=onnxruntime with bfloat16: one line."""
    weights = str(tmp_path / "color.keras")
    near_identity_model("color").save(weights)
    source, target = tmp_path / "photo.png", tmp_path / "sharp.png"
    image = photo(*SHAPE)
    write_png(str(source), image)
    result = run_script("deblur.py", f"--input={source}", f"--output={target}",
                        f"--weights={weights}", "--runtime=openvino")
    assert result.returncode == 0, result.stderr[-2000:]
    from srn_tf import load_model
    assert_within_a_grey_level(read_image(str(target)), deblur(load_model(weights), image))
    result = run_script("deblur.py", f"--input={source}", f"--output={tmp_path / 'o.png'}",
                        f"--weights={weights}", "--runtime=onnxruntime", "--precision=bfloat16")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (   # (run_script shows TF's start-up)
        "error: --runtime=onnxruntime runs float32 only, not --precision=bfloat16; for bfloat16 "
        "use --runtime=openvino or --runtime=keras")
    assert not (tmp_path / "o.png").exists()
