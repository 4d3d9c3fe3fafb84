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


# ---- LiteRT (TFLite) and ONNX ------------------------------------------------------------

from conftest import near_identity_model  # noqa: E402
from test_inference import photo  # noqa: E402

from srn_tf.restore import finest_level, to_unit_range  # noqa: E402

PARITY_SHAPE = (90, 150)   # non-square, H not a multiple of 16: the padding is in the graph


# The files converted once for the tests below: float16 weights on color; ONNX on lstm, whose
# graph holds every op of color's and the ConvLSTM (color's ONNX graph runs in
# tests/test_runtimes.py, through OpenVINO).
PORTABLE = {"color": (("tflite", False), ("tflite", True)),
            "lstm": (("tflite", False), ("onnx", False))}


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    """{(format, model_type, float16): path} of PORTABLE's files for color and lstm near-identity
    models; and the models under ("model", type)."""
    folder = tmp_path_factory.mktemp("portable")
    made = {}
    for model_type in ("color", "lstm"):
        model = near_identity_model(model_type)
        made["model", model_type] = model
        for export_format, float16 in PORTABLE[model_type]:
            path = str(folder / f"{model_type}{'_f16' if float16 else ''}.{export_format}")
            export.export_file(model, path, export_format, "test weights", float16=float16)
            made[export_format, model_type, float16] = path
    return made


def run_exported(path, images):
    """{"deblurred", "finest"} of an exported file, run with ai-edge-litert or onnxruntime."""
    if path.endswith(".onnx"):
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, {"images": images})))
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_path=path).get_signature_runner()(images=images)


def keras_reference(model, images):
    """(finest level float32, uint8 result) of the Keras model in float32, as srn_tf computes
    them: the finest level before clipping, and `deblur` of each image."""
    finest = finest_level(model, to_unit_range(tf.constant(images)), export.model_type_of(model))
    return finest.numpy(), np.stack([deblur(model, image, tile=0) for image in images])


@pytest.mark.slow
@pytest.mark.parametrize("export_format, model_type",
                         [("tflite", "color"), ("tflite", "lstm"), ("onnx", "lstm")])
def test_exported_file_matches_keras(portable, export_format, model_type):
    model = portable["model", model_type]
    images = photo(*PARITY_SHAPE)[None]
    finest, expected = keras_reference(model, images)
    out = run_exported(portable[export_format, model_type, False], images)
    assert out["deblurred"].dtype == np.uint8 and out["deblurred"].shape == images.shape
    assert out["finest"].shape == images.shape
    assert np.abs(out["finest"] - finest).max() <= 1e-4
    assert (out["deblurred"] == expected).mean() >= 0.9999
    assert np.abs(out["deblurred"].astype(int) - expected).max() <= 1
    assert len(np.unique(expected)) > 50   # image-like results, not a clipped constant


@pytest.mark.slow
@pytest.mark.parametrize("export_format", ["tflite", "onnx"])
def test_exported_file_takes_any_size_and_batch(portable, export_format):
    model = portable["model", "lstm"]
    images = np.stack([photo(33, 47), photo(33, 47)[::-1]])   # portrait-ish, odd, batch of 2
    finest, _ = keras_reference(model, images)
    out = run_exported(portable[export_format, "lstm", False], images)
    assert out["deblurred"].shape == images.shape
    assert np.abs(out["finest"] - finest).max() <= 1e-4


@pytest.mark.slow
def test_float16_tflite_is_close(portable):
    """float16 weights: half the file; results within a few grey levels of float32."""
    from skimage.metrics import peak_signal_noise_ratio
    images = photo(*PARITY_SHAPE)[None]
    full = run_exported(portable["tflite", "color", False], images)["deblurred"]
    half_path = portable["tflite", "color", True]
    half = run_exported(half_path, images)["deblurred"]
    assert os.path.getsize(half_path) < 0.6 * os.path.getsize(portable["tflite", "color", False])
    assert peak_signal_noise_ratio(full, half, data_range=255) > 45
    assert export.read_metadata(half_path)["weights"] == "float16"


@pytest.mark.slow
def test_onnx_resize_is_the_legacy_one(portable):
    """TF 1.x's resize (no half-pixel centres) must map to Resize 'asymmetric', or every level
    would shift by half a pixel."""
    import onnx
    graph = onnx.load(portable["onnx", "lstm", False]).graph
    resizes = [{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
               for node in graph.node if node.op_type == "Resize"]
    # 3 levels × (blurry input, previous output) + the ConvLSTM state at the two finer levels
    assert len(resizes) == 8, resizes
    for attributes in resizes:
        assert attributes["coordinate_transformation_mode"] == b"asymmetric"
        assert attributes["mode"] == b"linear"


@pytest.mark.slow
def test_metadata_inside_the_files(portable):
    for key in (("tflite", "color", False), ("onnx", "lstm", False)):
        info = export.read_metadata(portable[key])
        assert info["model_type"] == key[1]
        assert info["weights_source"] == "test weights"
        assert info["input_size"] == "any"


def test_files_without_metadata_are_named(tmp_path):
    """A LiteRT or ONNX file that srn_tf.export did not write: read_metadata says so."""
    import onnx
    add_one = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([2], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [add_one.get_concrete_function()], add_one)
    other = tmp_path / "other.tflite"
    other.write_bytes(converter.convert())
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", onnx.TensorProto.FLOAT, [2])],
                                   [value("y", onnx.TensorProto.FLOAT, [2])])
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "other.onnx"))
    for path in (other, tmp_path / "other.onnx"):
        with pytest.raises(ValueError, match="no srn-tf metadata"):
            export.read_metadata(str(path))


@pytest.mark.slow
def test_command_writes_a_fixed_size_tflite(tmp_path):
    from conftest import run_script
    weights = str(tmp_path / "gray.keras")
    build_srn("gray").save(weights)
    output = str(tmp_path / "out" / "gray.tflite")
    result = run_script("-m", "srn_tf.commands.export", "--format=tflite", "--size=48x80",
                        f"--weights={weights}", f"--output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert export.read_metadata(output)["input_size"] == "48x80"
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=output)
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, 48, 80, 3]
    image = photo(48, 80)[None]
    out = interpreter.get_signature_runner()(images=image)["deblurred"]
    np.testing.assert_array_equal(out[0], deblur(tf.keras.models.load_model(weights), image[0]))



def test_size_flag_values():
    assert export.parse_size("720x1280") == (720, 1280)
    assert export.parse_size("") is None and export.parse_size(None) is None
    for bad in ("720", "720by1280", "0x16", "-16x16", "axb"):
        with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
            export.parse_size(bad)
