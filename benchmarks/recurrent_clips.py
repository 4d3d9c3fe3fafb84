"""Fine-tunes an lstm model on synthetic clips with the ConvLSTM state carried from frame to frame.

  python benchmarks/recurrent_clips.py --init_from=checkpoints/train_lstm \\
      --workdir=checkpoints/train_lstm_clips [--steps=800 --frames=4]
  python benchmarks/temporal_consistency.py --weights=checkpoints/train_lstm \\
      --recurrent_weights=checkpoints/train_lstm_clips

The experiment behind `--temporal_state` (issue 23, docs/video.md): `srn-deblur --temporal_state`
starts frame t's coarsest ConvLSTM state from frame t−1's final one, which the release never
trained for. Here the network is trained to use it: each example is a clip of --frames
consecutive frames of a training photo (a random window panning by a few whole pixels a frame,
each frame blurred by its own camera shake, as `srn_tf.embedded.synthesize` blurs), run frame after
frame through the state-carrying model (`build_srn("lstm", state_io=True)`, the state of the
first frame zero), the loss the release's multi-scale L2 of every frame, averaged, and the
gradient taken through the carried state over the whole clip (truncated backpropagation through
time). Adam with the release's β/ε, learning rate --learning_rate decaying to 0 (power 0.3),
mixed bfloat16 as the CPU recipe. Every --validate_every steps the model runs, state carried, on
clips of the validation photos, and the step with the highest PSNR there is kept
(`<workdir>/model.keras`); the test photos' clips are for temporal_consistency.py alone.
Resumable: the same command continues from the latest checkpoint; every batch is a function of
(seed, step).
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from srn_tf import cli  # noqa: E402  (first: the quiet TensorFlow import)

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("init_from", None, "the lstm model to start from (.keras, run folder)")
flags.DEFINE_string("workdir", None, "checkpoints and the kept model.keras")
flags.DEFINE_integer("steps", 800, "training steps")
flags.DEFINE_integer("frames", 4, "frames per clip: the length of backpropagation through time")
flags.DEFINE_integer("batch_size", 4, "clips per step")
flags.DEFINE_integer("crop_size", 64, "frame side in pixels")
flags.DEFINE_float("learning_rate", 1e-4, "initial learning rate")
flags.DEFINE_integer("max_shift", 3, "largest pan between frames, pixels per axis")
flags.DEFINE_integer("validate_every", 100, "steps between validations on the val photos' clips")
flags.DEFINE_integer("seed", 0, "seed of the clips")
flags.mark_flags_as_required(["init_from", "workdir"])
FLAGS = flags.FLAGS


def training_clips(photos, step, batch_size, frames, size, max_shift, seed):
    """(blurry, sharp) uint8 [batch_size, frames, size, size, 3]: a function of (seed, step)."""
    from srn_tf.embedded import synthesize
    rng = np.random.default_rng([seed, step])
    blurry = np.empty((batch_size, frames, size, size, 3), np.uint8)
    sharp = np.empty_like(blurry)
    for b in range(batch_size):
        photo = photos[rng.integers(len(photos))]
        velocity = rng.integers(-max_shift, max_shift + 1, size=2)
        travel = np.abs(velocity) * (frames - 1)
        top = rng.integers(0, photo.shape[0] - size - travel[0] + 1) + max(0, -velocity[0]) * (frames - 1)
        left = rng.integers(0, photo.shape[1] - size - travel[1] + 1) + max(0, -velocity[1]) * (frames - 1)
        for k in range(frames):
            y, x = top + k * velocity[0], left + k * velocity[1]
            sharp[b, k] = photo[y:y + size, x:x + size]
            blurry[b, k] = synthesize(sharp[b, k], rng)["blur"]
    return blurry, sharp


def validation_psnr(model, clips):
    """Mean PSNR of the model with the state carried over every frame of `clips`."""
    from srn_tf import metrics
    from srn_tf.video import TemporalDeblurrer
    temporal = TemporalDeblurrer(model)
    values = []
    for _, sharp, blurry in clips:
        temporal.reset()
        values += [metrics.psnr(s, temporal(b)) for s, b in zip(sharp, blurry)]
    return float(np.mean(values))


def main(argv):
    del argv
    import keras
    import tensorflow as tf
    import srn_tf
    from srn_tf import embedded, train_lib
    from srn_tf.losses import multiscale_l2
    from srn_tf.model import LSTM_FILTERS, build_srn, model_type_of
    initial = srn_tf.load_model(FLAGS.init_from)
    if model_type_of(initial) != "lstm":
        sys.exit(f"error: --init_from {FLAGS.init_from} is a {model_type_of(initial)} model; the "
                 "carried state needs an lstm model")
    net = build_srn("lstm", "mixed_bfloat16", state_io=True)
    net.set_weights(initial.get_weights())
    schedule = keras.optimizers.schedules.PolynomialDecay(FLAGS.learning_rate, FLAGS.steps, 0.0,
                                                          power=0.3)
    optimizer = keras.optimizers.Adam(schedule, beta_1=train_lib.ADAM_BETA_1,
                                      beta_2=train_lib.ADAM_BETA_2,
                                      epsilon=train_lib.ADAM_EPSILON)
    step_var = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=net, optimizer=optimizer, step=step_var)
    manager = tf.train.CheckpointManager(checkpoint, FLAGS.workdir, max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
    photos = [embedded.load_photo(name) for name in embedded.PHOTOS["train"]]
    val_clips = embedded.clips("val", FLAGS.seed, count=8, size=(128, 128))

    @tf.function
    def train_step(blurry, sharp):
        grey_blurry = tf.image.rgb_to_grayscale(tf.cast(blurry, tf.float32) / 255.0)
        grey_sharp = tf.image.rgb_to_grayscale(tf.cast(sharp, tf.float32) / 255.0)
        with tf.GradientTape() as tape:
            state = tf.zeros([FLAGS.batch_size, 1, 1, 2 * LSTM_FILTERS])
            total = 0.0
            for k in range(FLAGS.frames):
                outputs = net([grey_blurry[:, k], state], training=True)
                loss, _ = multiscale_l2(grey_sharp[:, k], outputs[:3])
                total += loss
                state = outputs[3]
            total /= FLAGS.frames
        grads = tape.gradient(total, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return total

    def plain_model():
        model = build_srn("lstm")
        model.set_weights(net.get_weights())
        return model

    history_path = os.path.join(FLAGS.workdir, "validation.json")
    history = json.load(open(history_path)) if os.path.exists(history_path) else {}
    if "0" not in history:
        history["0"] = validation_psnr(initial, val_clips)
        print(f"step 0: validation PSNR, state carried: {history['0']:.2f} dB", flush=True)
    best = max(history, key=lambda s: history[s])
    step = int(step_var.numpy())
    while step < FLAGS.steps:
        blurry, sharp = training_clips(photos, step, FLAGS.batch_size, FLAGS.frames,
                                       FLAGS.crop_size, FLAGS.max_shift, FLAGS.seed)
        loss = float(train_step(tf.constant(blurry), tf.constant(sharp)))
        step += 1
        step_var.assign(step)
        if step % FLAGS.validate_every == 0 or step == FLAGS.steps:
            manager.save()
            history[str(step)] = validation_psnr(plain_model(), val_clips)
            print(f"step {step}: loss {loss:.5f}, validation PSNR, state carried: "
                  f"{history[str(step)]:.2f} dB", flush=True)
            if history[str(step)] > history[best]:
                best = str(step)
                plain_model().save(os.path.join(FLAGS.workdir, "model.keras"))
            with open(history_path, "w") as f:
                json.dump(history, f, indent=1)
    if best == "0":
        initial.save(os.path.join(FLAGS.workdir, "model.keras"))
    print(f"kept step {best}: validation PSNR {history[best]:.2f} dB (step 0: "
          f"{history['0']:.2f} dB); {os.path.join(FLAGS.workdir, 'model.keras')}")


if __name__ == "__main__":
    cli.run(main)
