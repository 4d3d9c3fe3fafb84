"""Prints max |Keras − TF1 graph| per model type and level, on random release-style checkpoints.

  python benchmarks/exactness.py [--height=96 --width=160 --batch=2]

The TF1 side is tests/tf1_reference.py: the release's generator in tf.compat.v1 graph mode,
written from the specification; its checkpoint is imported with srn_tf.load_tf1_checkpoint.
"""

import logging
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import tf1_reference  # noqa: E402
from srn_tf import build_srn, load_tf1_checkpoint  # noqa: E402
from srn_tf.model import image_channels  # noqa: E402

flags.DEFINE_integer("height", 96, "input height (multiple of 16)")
flags.DEFINE_integer("width", 160, "input width (multiple of 16)")
flags.DEFINE_integer("batch", 2, "batch size")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.getLogger("srn_tf").setLevel(logging.WARNING)   # not the per-variable mapping log
    rng = np.random.default_rng(0)
    print(f"input {FLAGS.batch}x{FLAGS.height}x{FLAGS.width}; max |difference| per level "
          "(coarsest first)")
    for model_type in ("color", "gray", "lstm"):
        images = rng.random((FLAGS.batch, FLAGS.height, FLAGS.width, image_channels(model_type)),
                            dtype=np.float32)
        with tempfile.TemporaryDirectory() as folder:
            _, reference = tf1_reference.write_checkpoint(folder, model_type, images)
            model = build_srn(model_type)
            load_tf1_checkpoint(model, folder)
        diffs = [float(np.abs(o.numpy() - r).max()) for o, r in zip(model(images), reference)]
        print(f"{model_type:6s} " + "  ".join(f"{d:.2e}" for d in diffs))


if __name__ == "__main__":
    app.run(main)
