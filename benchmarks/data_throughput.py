"""Input-pipeline throughput against bare PNG decoding, on a GoPro-layout tree of 1280×720 pairs,
and what generating synthetic pairs costs a CPU-recipe training step.

  python benchmarks/data_throughput.py [--pairs=48 --seconds=20] [--train_steps=60]

Prints: bare decode (two `tf.io.decode_png` per pair, tf.data on all cores), the same with Pillow
(`preprocess.decode_pair`, which the pipeline takes for files other than still PNGs), the training
pipeline at batch 16 × 256² crops with crops_per_image 1 and 8, and each figure's ratio to bare
decode. Then `srn_tf.synthetic` alone (pairs/s and CPU ms per 64² pair), and the median wall time
of CPU-recipe train steps (4 × 64², bfloat16, identity init) fed by the embedded photos, by
synthetic pairs and by a mix, with their ratios: the cost of generating pairs on the fly.
--pairs=0 skips the PNG part.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import srn_tf  # noqa: E402,F401  (TensorFlow without its start-up lines unless --verbose)
from srn_tf.hardware import describe  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402
from skimage.transform import resize  # noqa: E402

from srn_tf import cli, data, embedded, preprocess, sources, synthetic, train_lib  # noqa: E402
from srn_tf.image_io import write_png  # noqa: E402

flags.DEFINE_integer("pairs", 48, "1280×720 pairs in the generated tree")
flags.DEFINE_float("seconds", 20.0, "time spent measuring each figure")
flags.DEFINE_integer("train_steps", 60, "train steps timed per data source (0: skip)")
FLAGS = flags.FLAGS


def make_tree(root, num_pairs):
    """GoPro-layout PNG pairs made from the embedded photos, noisy like camera frames."""
    rng = np.random.default_rng(0)
    photos = [embedded.load_photo(n) for n in embedded.PHOTOS["train"]]
    for i in range(num_pairs):
        seq = os.path.join(root, "train", f"SEQ{i % 4:02d}")
        big = resize(photos[i % len(photos)], (720, 1280), preserve_range=True)
        for key in ("sharp", "blur"):
            os.makedirs(os.path.join(seq, key), exist_ok=True)
            noisy = np.clip(big + rng.normal(0, 2.0, big.shape), 0, 255).astype(np.uint8)
            write_png(os.path.join(seq, key, f"{i:06d}.png"), noisy)


def rate(dataset, items_per_element, seconds):
    """Elements (× items_per_element) per second after one warm-up element."""
    it = iter(dataset)
    next(it)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        count += 1
    return count * items_per_element / (time.perf_counter() - start)


def synthetic_generation(seconds):
    """Synthetic pairs alone: (pairs/s, CPU ms per pair) at the CPU recipe's batch of 4 × 64²."""
    ds = synthetic.make_train_dataset(crop_size=64, batch_size=4, seed=0)
    it = iter(ds)
    next(it)
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        next(it)
        count += 4
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count * 1000


def train_step_seconds(source, steps, recipe="cpu"):
    """Median wall time of `recipe`'s train steps fed by `source` (after 5 warm-up steps)."""
    import keras
    config = train_lib.TrainConfig(data=source, recipe=recipe).resolved()
    train_lib._set_precision(config)
    keras.utils.set_random_seed(0)
    model = train_lib.build_model("color")
    train_lib.apply_init(model, config.init)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(model.trainable_variables)
    step = train_lib.make_train_step(model, optimizer, tf.distribute.get_strategy(), config)
    iterator = iter(data.make_train_dataset(config.data, crop_size=config.crop_size,
                                            batch_size=config.batch_size, seed=0, cache=True))
    times = []
    for i in range(steps + 5):
        start = time.perf_counter()
        float(step(iterator)[0])
        times.append(time.perf_counter() - start)
    keras.mixed_precision.set_global_policy("float32")
    return float(np.median(times[5:]))


def main(argv):
    del argv
    print(f"{describe()}, {os.cpu_count()} cores, TF {tf.__version__}")
    if FLAGS.pairs:
        png_pipeline()
    rate_, cpu_ms = synthetic_generation(FLAGS.seconds)
    print(f"synthetic pairs alone (4 x 64²):  {rate_:7.1f} pairs/s, {cpu_ms:.1f} ms CPU per pair")
    if FLAGS.train_steps:
        for recipe, sources in (("cpu", ("synthetic", "embedded,synthetic:0.33")),
                                ("cpu_long", (train_lib.CPU_LONG_RECIPE["data"],))):
            base = train_step_seconds("embedded", FLAGS.train_steps, recipe)
            print(f"--recipe={recipe} train step, --data=embedded: {base * 1000:6.0f} ms")
            for source in sources:
                seconds = train_step_seconds(source, FLAGS.train_steps, recipe)
                print(f"--recipe={recipe} train step, --data={source}: {seconds * 1000:6.0f} ms "
                      f"({seconds / base - 1:+.0%} against embedded)")


def png_pipeline():
    with tempfile.TemporaryDirectory() as root:
        make_tree(root, FLAGS.pairs)
        pairs = sources.resolve_pairs(root)
        size = sum(os.path.getsize(p.blur) + os.path.getsize(p.sharp) for p in pairs) / len(pairs)
        print(f"{len(pairs)} pairs of 1280x720 PNGs, {size / 2**20:.1f} MiB per pair")
        paths = tf.data.Dataset.from_tensor_slices(([p.blur for p in pairs],
                                                    [p.sharp for p in pairs]))
        def png(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=3)
        bare = paths.repeat().map(lambda b, s: (png(b), png(s)),
                                  num_parallel_calls=tf.data.AUTOTUNE)
        bare_rate = rate(bare.prefetch(tf.data.AUTOTUNE), 1, FLAGS.seconds)
        print(f"bare decode:              {bare_rate:7.2f} pairs/s (tf.io.decode_png)")
        pillow = paths.repeat().map(preprocess.decode_pair, num_parallel_calls=tf.data.AUTOTUNE)
        pillow_rate = rate(pillow.prefetch(tf.data.AUTOTUNE), 1, FLAGS.seconds)
        print(f"Pillow decode:            {pillow_rate:7.2f} pairs/s ({pillow_rate / bare_rate:.0%} "
              "of bare decode; the pipeline's decoder for files other than still PNGs)")
        crops = {}
        for k in (1, 8):
            ds = data.make_train_dataset(pairs, crop_size=256, batch_size=16, seed=0,
                                         crops_per_image=k)
            crops[k] = rate(ds, 16, FLAGS.seconds)
            print(f"pipeline crops_per_image={k}: {crops[k] / k:7.2f} pairs/s "
                  f"({crops[k] / k / bare_rate:.0%} of bare decode), {crops[k]:7.2f} crops/s")
        print(f"crops/s, crops_per_image=8 vs 1: {crops[8] / crops[1]:.2f}x")


if __name__ == "__main__":
    cli.run(main)   # --verbose, quiet logging, one-line errors
