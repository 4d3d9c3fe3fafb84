"""Inference and train-step speed against this machine's measured peak, memory, and the accuracy
of the fast paths (bfloat16, tiling).

  python benchmarks/inference.py [--weights=checkpoints/train_color/model.keras] [--runs=3]

In one run it prints:
  * the peak: a large 5×5, 128→128-channel convolution, float32 and bfloat16 (GFLOP/s);
  * the network's multiply-adds at 1280×720, counted from the release's layer table;
  * 720p inference time (median of --runs after a warm-up) for float32 / bfloat16, with and
    without XLA: seconds, achieved GFLOP/s, and time ÷ the FLOP-bound time at the measured peak;
  * peak resident memory deblurring 1280×720 (whole) and 3840×2160 (tiled), each in a fresh process;
  * the train step (release recipe 16×256², and the default CPU recipe) in the same format;
  * with trained --weights: mean PSNR change of bfloat16 vs float32 on the embedded test set, and
    tiled vs whole results on the real photos (../shared/data/real_blur) or the embedded test set.
"""

import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("weights", os.path.join(ROOT, "checkpoints", "train_color", "model.keras"),
                    "trained weights for the accuracy figures (skipped when missing)")
flags.DEFINE_integer("runs", 3, "timed runs after the warm-up")
flags.DEFINE_boolean("train", True, "also time the train step")
flags.DEFINE_string("memory_probe", None, "internal: HxW[,tile] to deblur and report peak RSS")
FLAGS = flags.FLAGS


def median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


PEAK_SHAPES = ((1, 192, 192), (1, 368, 640), (4, 192, 192))   # N, H, W of the 128-channel input


def peak_gflops(dtype, runs):
    """The best of a large 5×5, 128→128-channel convolution over a few input shapes."""
    best = 0.0
    w = tf.cast(tf.random.uniform((5, 5, 128, 128)) * 0.01, dtype)
    for n, h, wd in PEAK_SHAPES:
        x = tf.cast(tf.random.uniform((n, h, wd, 128)), dtype)
        conv = tf.function(lambda x=x: tf.nn.conv2d(x, w, 1, "SAME"))
        flop = 2 * n * h * wd * 25 * 128 * 128
        best = max(best, flop / median_time(lambda: conv().numpy(), max(runs, 5)) / 1e9)
    return best


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor()


def memory_probe(spec):
    """In this (fresh) process: deblur one image, print peak RSS in MiB."""
    import resource
    from srn_tf import build_srn, deblur
    size, _, tile = spec.partition(",")
    height, width = map(int, size.split("x"))
    model = build_srn("color")
    deblur(model, np.zeros((height, width, 3), np.uint8), tile=int(tile) if tile else None)
    print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_memory(spec):
    result = subprocess.run([sys.executable, __file__, f"--memory_probe={spec}"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mib"]


def row(name, seconds, flop, peak):
    bound = flop / (peak * 1e9)
    print(f"  {name:34s} {seconds:8.2f} s  {flop / seconds / 1e9:7.1f} GFLOP/s  "
          f"{seconds / bound:5.2f}x the FLOP-bound time ({bound:.2f} s)")


def time_inference(runs, peaks):
    from srn_tf import build_srn
    from srn_tf.flops import network_macs
    from srn_tf.inference import compiled_restore
    model = build_srn("color")
    flop = 2 * network_macs(720, 1280)
    print(f"network: {flop / 2e12:.3f} T multiply-adds per 1280x720 colour image "
          f"({flop / 1e12:.2f} TFLOP)")
    image = tf.zeros((1, 720, 1280, 3), tf.uint8)
    print("720p inference (whole image, median of runs):")
    for precision in ("float32", "bfloat16"):
        for jit in (False, True):
            restore = compiled_restore(model, tf.uint8, precision, jit)
            seconds = median_time(lambda: restore(image, tf.constant([0, 0]),
                                                  tf.constant(0)).numpy(), runs)
            row(f"{precision}{' + XLA' if jit else ''}", seconds, flop,
                peaks["bfloat16" if precision == "bfloat16" else "float32"])


def time_train_step(runs, peaks):
    import keras
    from srn_tf import train_lib
    from srn_tf.flops import network_macs
    print("train step (forward + backward ≈ 3x forward FLOP; median of runs):")
    recipes = (("release 16x256²", 16, 256), ("CPU recipe %dx%d²" % (
        train_lib.CPU_RECIPE["batch_size"], train_lib.CPU_RECIPE["crop_size"]),
        train_lib.CPU_RECIPE["batch_size"], train_lib.CPU_RECIPE["crop_size"]))
    for label, batch, crop in recipes:
        flop = 3 * 2 * network_macs(crop, crop) * batch
        for precision, jit in (("float32", False), ("float32", True), ("bfloat16", False)):
            config = train_lib.TrainConfig(data="x", batch_size=batch, crop_size=crop,
                                           mixed_precision=precision == "bfloat16",
                                           jit_compile=jit).resolved()
            train_lib._set_precision(config)
            model = train_lib.build_model("color")
            optimizer = keras.optimizers.Adam(1e-4)
            optimizer.build(model.trainable_variables)
            step = train_lib.make_train_step(model, optimizer, tf.distribute.get_strategy(),
                                             config)
            batch_data = tf.random.uniform((batch, crop, crop, 3))
            iterator = iter(tf.data.Dataset.from_tensors((batch_data, batch_data)).repeat())
            seconds = median_time(lambda: float(step(iterator)[0]), max(1, runs - 1))
            row(f"{label} {precision}{' + XLA' if jit else ''} ({batch / seconds:.1f} ex/s)",
                seconds, flop, peaks[precision])
    keras.mixed_precision.set_global_policy("float32")


def accuracy(weights):
    from srn_tf import data, deblur, load_model, metrics
    from srn_tf.image_io import read_image
    if not os.path.exists(weights):
        print(f"accuracy figures skipped: no trained weights at {weights} (run train.py)")
        return
    model = load_model(weights)
    pairs = data.resolve_pairs(None, split="test")
    changes = []
    for pair in pairs:
        blur, sharp = read_image(pair.blur), read_image(pair.sharp)
        changes.append(metrics.psnr(sharp, deblur(model, blur, precision="bfloat16")) -
                       metrics.psnr(sharp, deblur(model, blur)))
    print(f"bfloat16 vs float32 on the embedded test set ({len(pairs)} images): mean PSNR change "
          f"{np.mean(changes):+.3f} dB (largest {max(changes, key=abs):+.3f})")
    photos = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "real_blur", "*.png")))
    images = [read_image(p)[:, :, :3] for p in photos] or [read_image(p.blur) for p in pairs]
    far, total = 0, 0
    for image in images:
        whole = deblur(model, image, tile=0)
        tiled = deblur(model, image, tile=512)   # several tiles per photo, default overlap
        far += int((np.abs(tiled.astype(int) - whole) > 1).sum())
        total += whole.size
    print(f"tiled (512² tiles, overlap 128) vs whole on {len(images)} "
          f"{'real photos' if photos else 'embedded test images'}: {100 * far / total:.4f} % of "
          "values differ by more than 1 grey level")


def main(argv):
    del argv
    if FLAGS.memory_probe:
        memory_probe(FLAGS.memory_probe)
        return
    print(f"{time.strftime('%Y-%m-%d')}, {cpu_name()}, {os.cpu_count()} cores, TF {tf.__version__}")
    peaks = {"float32": peak_gflops(tf.float32, FLAGS.runs),
             "bfloat16": peak_gflops(tf.bfloat16, FLAGS.runs)}
    print(f"peak (5x5 conv, 128->128 channels, best of NxHxW {PEAK_SHAPES}): float32 "
          f"{peaks['float32']:.1f} GFLOP/s, bfloat16 {peaks['bfloat16']:.1f} GFLOP/s")
    time_inference(FLAGS.runs, peaks)
    small, large = peak_memory("720x1280,0"), peak_memory("2160x3840")
    print(f"peak RSS: 1280x720 whole {small:.0f} MiB; 3840x2160 tiled (default budget) "
          f"{large:.0f} MiB = {large / small:.2f}x")
    if FLAGS.train:
        time_train_step(FLAGS.runs, peaks)
    accuracy(FLAGS.weights)


if __name__ == "__main__":
    app.run(main)
