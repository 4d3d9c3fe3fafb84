"""Export a model for serving: a SavedModel, a LiteRT (.tflite) or an ONNX file.

  srn-export --weights=checkpoints/lstm --output=exported/srn_lstm [--tile=512]
  srn-export --format=tflite --weights=checkpoints/lstm --output=srn_lstm.tflite [--float16]
  srn-export --format=onnx --weights=checkpoints/lstm --output=srn_lstm.onnx [--size=720x1280]

What each file takes and returns: srn_tf/export.py's docstring and docs/export.md.
"""

import sys

from absl import flags

from srn_tf import cli, cli_flags, export
from srn_tf.backend import require_tensorflow_backend
from srn_tf.convert import load_model
from srn_tf.errors import disk_full_message, is_disk_full
from srn_tf.model import MODEL_TYPES


def define_flags():
    flags.DEFINE_string("weights", None, "a .keras file, a training run's folder or an original "
                        "release checkpoint")
    flags.DEFINE_enum("format", "saved_model", list(export.FORMATS), "what to write: a "
                      "SavedModel folder, a LiteRT (.tflite) or an ONNX (.onnx) file")
    flags.DEFINE_string("output", None, "the SavedModel folder or the .tflite/.onnx file to "
                        "write (replaced atomically)")
    flags.DEFINE_string("size", None, "tflite/onnx: fix the input to 1×H×W×3, given as HxW "
                        "(e.g. 720x1280; for runtimes or delegates that need static shapes); "
                        "default: any N, H, W")
    flags.DEFINE_boolean("float16", False, "tflite: store the weights as float16")
    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES), "override the detected type")
    flags.DEFINE_integer("tile", 0, "serve in overlapping tiles of this size (multiple of 16); "
                         "0 = whole images")
    flags.mark_flags_as_required(["weights", "output"])


def _checked_options(values):
    """(size or None) after refusing options of another format, in one line."""
    try:
        size = export.parse_size(values.size)
        if values.format == "saved_model" and (size or values.float16):
            raise ValueError("--size and --float16 are options of --format=tflite/onnx; a "
                             "SavedModel takes any size")
        if values.format != "saved_model" and values.tile:
            raise ValueError("--tile is an option of --format=saved_model; LiteRT and ONNX "
                             "exports run whole images")
    except ValueError as e:
        sys.exit(f"error: {e}")
    cli_flags.exit_unless_tiling_usable(values.tile)
    return size


def main(argv):
    del argv
    values = flags.FLAGS
    require_tensorflow_backend(export.FEATURE)
    size = _checked_options(values)
    model = load_model(values.weights, values.model_type)
    try:
        if values.format == "saved_model":
            export.export(model, values.output, weights_source=values.weights, tile=values.tile)
        else:
            export.export_file(model, values.output, values.format, values.weights, size,
                               values.float16)
    except ImportError as e:
        sys.exit(f"error: --format={values.format} needs {e.name}, which is not installed: "
                 "python -m pip install 'srn-tf[export]' (tf2onnx, onnx, ai-edge-litert)")
    except Exception as e:   # noqa: BLE001  (a full disk names --output, not a TF device)
        if not is_disk_full(e):
            raise
        sys.exit(f"error: {disk_full_message(values.output)}")
    print(f"wrote {values.output}")


def run():
    """The `srn-export` command."""
    cli.run(main, define_flags, __doc__)


if __name__ == "__main__":
    run()
