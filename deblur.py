"""Deblur an image or a folder of images with SRN.

  python deblur.py --input=photo.png --output=out/ --weights=checkpoints/lstm
"""

import logging
import sys

from absl import app, flags

import srn_tf
from srn_tf import deblur_lib

flags.DEFINE_string("input", None, "an image file or a folder of images")
flags.DEFINE_string("output", None, "folder for the deblurred PNGs (created if needed)")
flags.DEFINE_string("weights", None, "a .keras file, or an original release checkpoint (folder or "
                    "prefix such as checkpoints/lstm/deblur.model-523000)")
flags.DEFINE_enum("model_type", None, list(srn_tf.MODEL_TYPES),
                  "model type of a TF1 checkpoint, when it cannot be detected")
flags.mark_flags_as_required(["input", "output"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not FLAGS.weights:
        raise app.UsageError(deblur_lib.NO_WEIGHTS_HELP)
    try:
        model = srn_tf.load_model(FLAGS.weights, FLAGS.model_type)
        skipped = deblur_lib.deblur_files(model, FLAGS.input, FLAGS.output)
    except ValueError as e:
        sys.exit(f"error: {e}")
    if skipped:
        sys.exit(f"error: {len(skipped)} image(s) could not be read and were skipped: {skipped}")


if __name__ == "__main__":
    app.run(main)
