"""SavedModel export for serving: uint8 images of any size in, deblurred uint8 images out.

  python -m srn_tf.export --weights=checkpoints/lstm --output=exported/srn_lstm

Signatures:
  serving_default: images uint8 [N, H, W, 3], any H, W ≥ 1 → {"deblurred": uint8 [N, H, W, 3]}
                   (edge padding to multiples of 16 and cropping inside the graph; gray/lstm models
                   deblur R, G, B as three grayscale images, as the release did; with --tile,
                   overlapping tiles blended in the graph).
  levels:          images float32 [N, H, W, C] in [0, 1], H and W multiples of 16 →
                   {"level0", "level1", "level2"}: the three float32 level outputs, coarsest first.
The model type, the weights' source and the srn-tf version are the string variables `model_type`,
`weights_source`, `srn_tf_version` of the loaded object and the asset `srn_tf_metadata.json`.
"""

import json
import logging
import os
import shutil
import tempfile

import tensorflow as tf

from srn_tf.inference import DEFAULT_OVERLAP, restore_integer_batch
from srn_tf.model import MODEL_TYPES, SIZE_MULTIPLE, as_levels, image_channels, model_type_of

log = logging.getLogger(__name__)

METADATA_ASSET = "srn_tf_metadata.json"


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
    """
    from srn_tf import __version__
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


def is_saved_model(path):
    return os.path.isfile(os.path.join(os.fspath(path), "saved_model.pb"))


def main(argv):
    del argv
    from absl import flags
    from srn_tf.convert import load_model
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    FLAGS = flags.FLAGS
    model = load_model(FLAGS.weights, FLAGS.model_type)
    export(model, FLAGS.output, weights_source=FLAGS.weights, tile=FLAGS.tile)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    from absl import flags
    flags.DEFINE_string("weights", None, "a .keras file or an original release checkpoint")
    flags.DEFINE_string("output", None, "the SavedModel folder to write (replaced atomically)")
    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES), "override the detected type")
    flags.DEFINE_integer("tile", 0, "serve in overlapping tiles of this size (multiple of 16); "
                         "0 = whole images")
    flags.mark_flags_as_required(["weights", "output"])
    from srn_tf import cli
    cli.run(main)
