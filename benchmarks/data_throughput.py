"""Input-pipeline throughput against bare PNG decoding, on a GoPro-layout tree of 1280×720 pairs.

  python benchmarks/data_throughput.py [--pairs=48 --seconds=20]

Prints: bare decode (two PNG decodes per pair, tf.data on all cores), the training pipeline at
batch 16 × 256² crops with crops_per_image 1 and 8, and each figure's ratio to bare decode.
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from skimage.transform import resize  # noqa: E402

from srn_tf import data, embedded  # noqa: E402
from srn_tf.image_io import write_png  # noqa: E402

flags.DEFINE_integer("pairs", 48, "1280×720 pairs in the generated tree")
flags.DEFINE_float("seconds", 20.0, "time spent measuring each figure")
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


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as root:
        make_tree(root, FLAGS.pairs)
        pairs = data.resolve_pairs(root)
        size = sum(os.path.getsize(p.blur) + os.path.getsize(p.sharp) for p in pairs) / len(pairs)
        print(f"{len(pairs)} pairs of 1280x720 PNGs, {size / 2**20:.1f} MiB per pair, "
              f"{os.cpu_count()} cores, TF {tf.__version__}")
        paths = tf.data.Dataset.from_tensor_slices(([p.blur for p in pairs],
                                                    [p.sharp for p in pairs]))
        bare = paths.repeat().map(data.decode_pair, num_parallel_calls=tf.data.AUTOTUNE)
        bare_rate = rate(bare.prefetch(tf.data.AUTOTUNE), 1, FLAGS.seconds)
        print(f"bare decode:              {bare_rate:7.2f} pairs/s")
        crops = {}
        for k in (1, 8):
            ds = data.make_train_dataset(pairs, crop_size=256, batch_size=16, seed=0,
                                         crops_per_image=k)
            crops[k] = rate(ds, 16, FLAGS.seconds)
            print(f"pipeline crops_per_image={k}: {crops[k] / k:7.2f} pairs/s "
                  f"({crops[k] / k / bare_rate:.0%} of bare decode), {crops[k]:7.2f} crops/s")
        print(f"crops/s, crops_per_image=8 vs 1: {crops[8] / crops[1]:.2f}x")


if __name__ == "__main__":
    app.run(main)
