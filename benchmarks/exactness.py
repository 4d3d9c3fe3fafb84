"""Prints max |Keras − TF1 graph| per model type and level, on random release-style checkpoints;
with --train, how far srn-tf's training steps are from the release's.

  python benchmarks/exactness.py [--height=96 --width=160 --batch=2] [--backend=jax|torch]
  python benchmarks/exactness.py --train

The TF1 side is tests/tf1_reference.py: the release's generator and training in tf.compat.v1
graph mode, written from the specification; its checkpoint is imported with
srn_tf.load_tf1_checkpoint. --train runs tests/test_train_exact.py's comparison: K steps of
train_lib's own optimizer and train step against the reference's, from one random checkpoint,
and the same figures for recipe errors, which must be far outside the bounds; then
tests/test_train_resync.py's per-step figures: one srn-tf step from each of the reference's states.
--backend runs the Keras model on JAX or PyTorch (the reference graph is TensorFlow's, in the same
process); --train needs the TensorFlow backend.
"""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from srn_tf import build_srn, cli, load_tf1_checkpoint  # noqa: E402  (first: the backend)
from srn_tf.backend import quiet_tensorflow_import, require_tensorflow_backend  # noqa: E402

quiet_tensorflow_import()     # the reference graph's, on any backend

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

import tf1_reference  # noqa: E402
from srn_tf.model import image_channels  # noqa: E402

flags.DEFINE_integer("height", 96, "input height (multiple of 16)")
flags.DEFINE_integer("width", 160, "input width (multiple of 16)")
flags.DEFINE_integer("batch", 2, "batch size")
flags.DEFINE_boolean("train", False, "compare training steps instead (test_train_exact's setting)")
FLAGS = flags.FLAGS


def print_training():
    """srn-tf's K training steps against the reference's; then recipe errors against srn-tf."""
    import tensorflow as tf
    import test_train_exact as exact
    import test_train_resync as resync
    bounds = "  ".join(f"{k} ≤ {v:g}" for k, v in exact.BOUNDS.items())
    print(f"{exact.STEPS} steps, batches {'x'.join(map(str, exact.BATCH_SHAPE))}, float32, "
          f"learning rate decaying over {exact.DECAY_STEPS} steps; bounds: {bounds}")
    print("loss_first/loss: max relative per-level loss difference, steps 0-1 / all steps; "
          "update: relative L2 error of the weights' movement; weight: max |Δw| / max |w| of "
          "the worst tensor")
    header = f"{'':48s}{'loss_first':>11s}{'loss':>10s}{'update':>10s}{'weight':>10s}"

    def row(name, figures):
        verdict = "within" if exact.within_bounds(figures) else "OUTSIDE"
        print(f"{name:48s}" + "".join(f"{figures[k]:10.2e} " for k in exact.BOUNDS) + verdict)

    print(header)
    references = {}
    with tempfile.TemporaryDirectory() as folder:
        for model_type, clip in exact.CASES:
            batches = exact.make_batches(model_type)
            prefix, _ = tf1_reference.write_checkpoint(folder, model_type, batches[0][0])
            reader = tf.train.load_checkpoint(prefix)

            def reference(**change):
                return tf1_reference.train(prefix, model_type, batches, exact.DECAY_STEPS,
                                           **{"clip_lstm": clip, **change})

            traced = reference(states=True)
            references[model_type, clip] = traced[:2]
            initial = {n: reader.get_tensor(n) for n in references[model_type, clip][1]}
            ours = exact.srn_tf_train(prefix, model_type, batches, clip_norm=clip)
            name = f"srn-tf {model_type}" + (f", ConvLSTM clipped to {clip:g}" if clip else "")
            row(name, exact.compare(ours, references[model_type, clip], initial))
            steps = resync.resynchronised(prefix, model_type, batches, traced, clip_norm=clip)
            for key, what in (("update", "max |Δ_srn − Δ_ref| / max |w|"),
                              ("outliers", "fraction of weights beyond 1e-5"),
                              ("of_bound", "max |Δ_srn − Δ_ref| / 2·B_t"),
                              ("loss", "max relative per-level loss difference")):
                print(f"  resynchronised, per step: {what:40s}"
                      + " ".join(f"{f[key]:8.1e}" for f in steps))
            if clip:
                row("  error: no clipping", exact.compare(ours, references[model_type, 0.0],
                                                          initial))
            if model_type != "color":
                continue
            nudged = reference(learning_rate=tf1_reference.LEARNING_RATE * (1 + 1e-5))
            row("  reference vs itself, learning rate x(1+1e-5)",
                exact.compare(nudged, references[model_type, clip], initial))
            for what, change in (("Adam epsilon 1e-7", dict(epsilon=1e-7)),
                                 ("half-pixel resize of the targets",
                                  dict(half_pixel_targets=True)),
                                 ("no stop-gradient between levels", dict(stop_gradient=False))):
                row(f"  error: {what}", exact.compare(ours, reference(**change), initial))


def main(argv):
    del argv
    if not FLAGS.verbose:
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")      # the reference's tf.compat.v1 deprecation notices
    if FLAGS.train:
        require_tensorflow_backend("--train")
        print_training()
        return
    rng = np.random.default_rng(0)
    print(f"Keras backend {keras.backend.backend()}; input {FLAGS.batch}x{FLAGS.height}x"
          f"{FLAGS.width}; max |difference| per level (coarsest first)")
    for model_type in ("color", "gray", "lstm"):
        images = rng.random((FLAGS.batch, FLAGS.height, FLAGS.width, image_channels(model_type)),
                            dtype=np.float32)
        with tempfile.TemporaryDirectory() as folder:
            _, reference = tf1_reference.write_checkpoint(folder, model_type, images)
            model = build_srn(model_type)
            load_tf1_checkpoint(model, folder)
        diffs = [float(np.abs(keras.ops.convert_to_numpy(o) - r).max())
                 for o, r in zip(model(images), reference)]
        print(f"{model_type:6s} " + "  ".join(f"{d:.2e}" for d in diffs))


if __name__ == "__main__":
    cli.run(main)
