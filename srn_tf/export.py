"""SavedModel export for serving: uint8 images of any size in, deblurred uint8 images out.

  srn-export --weights=checkpoints/lstm --output=exported/srn_lstm

Signatures:
  serving_default: images uint8 [N, H, W, 3], any H, W ≥ 1 → {"deblurred": uint8 [N, H, W, 3]}
                   (edge padding to multiples of 16 and cropping inside the graph; gray/lstm models
                   deblur R, G, B as three grayscale images, as the release did; with --tile,
                   overlapping tiles blended in the graph).
  levels:          images float32 [N, H, W, C] in [0, 1], H and W multiples of 16 →
                   {"level0", "level1", "level2"}: the three float32 level outputs, coarsest first.
The model type, the weights' source and the srn-tf version are the string variables `model_type`,
`weights_source`, `srn_tf_version` of the loaded object and the asset `srn_tf_metadata.json`.

LiteRT (TFLite) and ONNX files, for phones, C++ services and other frameworks:

  srn-export --format=tflite --weights=checkpoints/lstm --output=srn_lstm.tflite
  srn-export --format=tflite --float16 --weights=... --output=srn_lstm_f16.tflite
  srn-export --format=onnx --weights=checkpoints/lstm --output=srn_lstm.onnx
  (--size=HxW fixes the input size; default: any N, H, W)

One input `images` uint8 [N, H, W, 3], any H, W ≥ 1, and two outputs: `deblurred` uint8
[N, H, W, 3] (the release's test path, as the SavedModel's serving signature: whole images, no
tiling) and `finest` float32 [N, H, W, 3], the finest level before clipping. LiteRT via
TensorFlow's converter (`--float16`: float16 weights, for mobile GPUs; computed in float32 on
CPUs); ONNX via tf2onnx, opset 17: the release's bilinear resize becomes `Resize` with
coordinate_transformation_mode "asymmetric". The metadata (model type, weights' source, srn-tf
version, input size) is in the file: ONNX `metadata_props`, a TFLite metadata buffer named
"srn_tf" (`read_metadata` reads both).
"""

import json
import logging
import os
import shutil
import sys
import tempfile

from srn_tf.backend import lazy_tensorflow, require_tensorflow_backend
from srn_tf.image_io import write_bytes
from srn_tf.model import MODEL_TYPES, SIZE_MULTIPLE, as_levels, image_channels, model_type_of
from srn_tf.restore import finest_level, from_unit_range, to_unit_range
from srn_tf.runtimes import onnx_proto
from srn_tf.tf_graph import restore_integer_batch
from srn_tf.tiling import DEFAULT_OVERLAP

FEATURE = "exporting (SavedModel, LiteRT, ONNX)"
tf = lazy_tensorflow(FEATURE)

log = logging.getLogger(__name__)

METADATA_ASSET = "srn_tf_metadata.json"
FORMATS = ("saved_model", "tflite", "onnx")
METADATA_NAME = "srn_tf"     # the TFLite metadata buffer's name


class ExportModule(tf.Module):
    """A servable SRN: wraps a model from `build_srn` with uint8 and float signatures."""

    def __init__(self, model, weights_source, metadata_path, tile=0, overlap=DEFAULT_OVERLAP):
        super().__init__(name="srn_export")
        from srn_tf import __version__
        self.model = model
        self._type = model_type_of(model)
        self.model_type = tf.Variable(self._type, trainable=False)
        self.weights_source = tf.Variable(str(weights_source), trainable=False)
        self.srn_tf_version = tf.Variable(__version__, trainable=False)
        self.metadata = tf.saved_model.Asset(metadata_path)
        self._tiling = (tf.constant([tile, tile], tf.int32), tf.constant(overlap, tf.int32))
        channels = image_channels(self._type)
        self.serve = tf.function(self._serve, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        self.levels = tf.function(self._levels, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None, channels], tf.float32, name="images")])

    def _serve(self, images):
        return {"deblurred": restore_integer_batch(self.model, images, self._type, *self._tiling)}

    def _levels(self, images):
        size = tf.shape(images)[1:3]
        tf.debugging.assert_equal(size % SIZE_MULTIPLE, 0,
                                  message="levels: H and W must be multiples of 16")
        outputs = as_levels(self.model(images, training=False))
        return {f"level{i}": tf.cast(o, tf.float32) for i, o in enumerate(outputs)}


def export(model, output_dir, weights_source="unknown", tile=0, overlap=DEFAULT_OVERLAP):
    """Writes a SavedModel of `model` to `output_dir`, atomically.

    `tile` > 0 (a multiple of 16) makes the serving signature process images in overlapping
    tile×tile tiles (bounded memory at any size); 0 runs whole images.
    The export is written to a temporary folder beside `output_dir` and renamed into place only
    when complete; an existing export there is replaced only then. Returns `output_dir`.
    Raises srn_tf.backend.BackendError off Keras's TensorFlow backend.
    """
    from srn_tf import __version__
    require_tensorflow_backend(FEATURE)
    output_dir = os.path.abspath(output_dir)
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        metadata_path = os.path.join(tmp, METADATA_ASSET)
        with open(metadata_path, "w") as f:
            json.dump({"model_type": model_type_of(model), "weights_source": str(weights_source),
                       "srn_tf_version": __version__, "tile": tile, "overlap": overlap}, f)
        module = ExportModule(model, weights_source, metadata_path, tile, overlap)
        saved = os.path.join(tmp, "saved_model")
        tf.saved_model.save(module, saved, signatures={"serving_default": module.serve,
                                                       "levels": module.levels})
        old = None
        if os.path.exists(output_dir):
            old = tempfile.mkdtemp(prefix=".replaced-", dir=parent)
            os.rename(output_dir, os.path.join(old, "export"))
        os.rename(saved, output_dir)
        if old:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s model to %s", model_type_of(model), output_dir)
    return output_dir


def metadata(model, weights_source, size=None, **extra):
    """The metadata written into every export: {str: str}."""
    from srn_tf import __version__
    return {"model_type": model_type_of(model), "weights_source": str(weights_source),
            "srn_tf_version": __version__,
            "input_size": "any" if size is None else f"{size[0]}x{size[1]}",
            **{key: str(value) for key, value in extra.items()}}


def image_function(model, size=None):
    """The graph of the LiteRT and ONNX exports as a tf.function of uint8 `images`.

    images: uint8 [N, H, W, 3] ([1, *size] when `size` = (H, W) is given), any H, W ≥ 1 →
    {"deblurred": uint8 [N, H, W, 3], "finest": float32 [N, H, W, 3]}; whole images, the same ops
    as `srn_tf.deblur(model, image, tile=0)`.
    """
    model_type = model_type_of(model)

    def deblur_images(images):
        finest = finest_level(model, to_unit_range(images), model_type)
        return {"deblurred": from_unit_range(tf.clip_by_value(finest, 0.0, 1.0), tf.uint8),
                "finest": finest}
    shape = [None, None, None, 3] if size is None else [1, size[0], size[1], 3]
    return tf.function(deblur_images, autograph=False, input_signature=[
        tf.TensorSpec(shape, tf.uint8, name="images")])


def tflite_bytes(model, weights_source="unknown", size=None, float16=False):
    """A LiteRT (TFLite) flatbuffer of `image_function(model, size)`, with its metadata.

    float16: weights stored as float16 (half the file), dequantized to float32 on CPUs.
    """
    # TF 2.21's converter keeps Keras 3's variables as LiteRT resource variables that nothing
    # initialises (the model then computes NaNs), from a SavedModel too; so the weights are
    # frozen into constants first, as tf2onnx does.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)
    function = image_function(model, size)
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)

    def named(images):   # the frozen function returns a flat list: the outputs' names back
        return tf.nest.pack_sequence_as(concrete.structured_outputs,
                                        tf.nest.flatten(frozen(images)))
    module = tf.Module()
    module.deblur = tf.function(named, input_signature=function.input_signature)
    with tempfile.TemporaryDirectory(prefix="srn_tf_tflite-") as folder:
        tf.saved_model.save(module, folder, signatures={"serving_default": module.deblur})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)   # keeps the names
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
    info = metadata(model, weights_source, size, weights="float16" if float16 else "float32")
    return _with_tflite_metadata(flatbuffer, json.dumps(info).encode())


def _with_tflite_metadata(flatbuffer, payload):
    """`flatbuffer` with one more metadata entry, METADATA_NAME → `payload` (bytes)."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    tflite = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, np.uint8)
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tflite.buffers) - 1
    tflite.metadata = [m for m in tflite.metadata or []
                       if m.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(tflite.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def onnx_model(model, weights_source="unknown", size=None):
    """An onnx.ModelProto of `image_function(model, size)` (tf2onnx, opset 17), with metadata."""
    import onnx
    proto = onnx_proto(image_function(model, size))
    onnx.helper.set_model_props(proto, metadata(model, weights_source, size))
    proto.producer_name = "srn-tf"
    return proto


def read_metadata(path):
    """The srn-tf metadata of an exported .tflite or .onnx file: {str: str}.

    Raises ValueError when the file holds none.
    """
    if path.endswith(".onnx"):
        import onnx
        found = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
        if "model_type" in found:
            return found
    else:
        from ai_edge_litert import schema_py_generated as schema
        with open(path, "rb") as f:
            tflite = schema.Model.GetRootAs(f.read(), 0)
        for i in range(tflite.MetadataLength()):
            if tflite.Metadata(i).Name() == METADATA_NAME.encode():
                data = tflite.Buffers(tflite.Metadata(i).Buffer()).DataAsNumpy()
                return json.loads(data.tobytes())
    raise ValueError(f"{path} holds no srn-tf metadata: not a file written by srn_tf.export")


def _write_atomically(path, data):
    """Writes bytes to `path` (folders created) with `srn_tf.image_io.write_bytes`: through a
    temporary file beside it, renamed into place, with an ordinary file's permissions."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_bytes(path, data)
    return path


def export_file(model, output, export_format, weights_source="unknown", size=None,
                float16=False):
    """Writes a .tflite or .onnx export of `model` to `output` atomically; returns `output`.

    export_format: "tflite" or "onnx"; size: None (any H, W) or (H, W) fixing the input to
    [1, H, W, 3]; float16 (tflite only): float16 weights. Raises srn_tf.backend.BackendError
    off Keras's TensorFlow backend.
    """
    require_tensorflow_backend(FEATURE)
    if float16 and export_format != "tflite":
        raise ValueError("float16 weights are a LiteRT (--format=tflite) option")
    if export_format == "tflite":
        data = tflite_bytes(model, weights_source, size, float16)
    elif export_format == "onnx":
        data = onnx_model(model, weights_source, size).SerializeToString()
    else:
        raise ValueError(f"export_format must be tflite or onnx, got {export_format!r}")
    _write_atomically(output, data)
    log.info("exported %s model to %s", model_type_of(model), output)
    return output


def parse_size(text):
    """"HxW" → (H, W), positive ints; None for an empty value. Raises ValueError otherwise."""
    if not text:
        return None
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        height = width = 0
    if height < 1 or width < 1:
        raise ValueError(f"--size must be HEIGHTxWIDTH with positive integers, e.g. 720x1280; "
                         f"got {text!r}")
    return height, width


if __name__ == "__main__":   # python -m srn_tf.export: say which command to run
    from srn_tf.errors import not_a_command
    raise SystemExit(not_a_command("srn_tf.export"))
