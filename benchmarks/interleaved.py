"""Paths against each other in one process, interleaved: the fair comparison on a shared machine.

  python benchmarks/interleaved.py --weights=checkpoints/train_color/model.keras \
      --paths=keras_bfloat16,openvino_bfloat16 --rounds=5
  python benchmarks/interleaved.py --backend=jax --paths=keras_float32,keras_bfloat16
  python benchmarks/interleaved.py --paths=auto,keras_float32 --size=128x224 --rounds=1  # a check

Each path is `srn_tf.deblur(model, photo, runtime=..., precision=...)` with default tiling on the
real photo real_blur/01.png, resized (bicubic) to --size; "auto" is the default
(`srn_tf.runtimes.choose`). Every path is called once untimed (tracing; the other runtimes'
conversion, from the on-disk cache when there), then --rounds rounds time every path once in
turn (A, B, A, B, ...), so a load that comes and goes slows them alike
(`timing.interleaved_times`). It prints the CPU's ISA, the default path, the load average before
and after, and per path the median and fastest seconds per image and the median of its per-round
ratios to the first path: what `srn_tf.runtimes.choose` was decided from on the machine of
docs/speed.md while other jobs shared it. Paths of the TensorFlow backend (the default):
keras_float32, keras_bfloat16, openvino_float32, openvino_bfloat16, onnxruntime (float32) and
auto; with --backend=jax or torch: keras_* and auto.
"""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import srn_tf  # noqa: E402  (the backend's framework without its start-up lines)
from absl import flags  # noqa: E402

from srn_tf import cli, hardware, runtimes  # noqa: E402
from timing import interleaved_times, load_average, photo  # noqa: E402  (benchmarks/timing.py)

flags.DEFINE_string("weights", None, "weights (.keras, a run's folder or a release checkpoint); "
                    "default: a color model with random weights (speed does not depend on them)")
flags.DEFINE_list("paths", ["keras_bfloat16", "openvino_bfloat16"],
                  "<runtime>_<precision> (onnxruntime: float32) or auto; the first is the "
                  "reference of the ratios")
flags.DEFINE_string("size", "720x1280", "HxW of the photo")
flags.DEFINE_integer("rounds", 5, "timed rounds after the warm-up")
FLAGS = flags.FLAGS


def path_options(name):
    """{"runtime", "precision"} of a path name: auto, onnxruntime, or <runtime>_<precision>."""
    if name in ("auto", "onnxruntime"):
        return {"runtime": name, "precision": "auto"}
    runtime, _, precision = name.rpartition("_")
    return {"runtime": runtime, "precision": precision}


def main(argv):
    del argv
    model = srn_tf.load_model(FLAGS.weights) if FLAGS.weights else srn_tf.build_srn("color")
    height, width = (int(v) for v in FLAGS.size.lower().split("x"))
    image = photo(height, width)
    print(f"{time.strftime('%Y-%m-%d')}, {hardware.describe()}, {os.cpu_count()} cores")
    print(runtimes.choose())
    print(f"weights: {FLAGS.weights or 'color, random'}; {width}x{height}; {FLAGS.rounds} rounds "
          f"interleaved after a warm-up; before: {load_average()}")
    fns = {}
    for name in FLAGS.paths:
        options = path_options(name)
        choice = runtimes.choose(**options)      # refuses what cannot run, before any work
        fns[name] = (lambda options=options: srn_tf.deblur(model, image, **options))
        print(f"  {name}: {choice.precision} on {choice.runtime}")
    times = interleaved_times(fns, FLAGS.rounds)
    first = times[FLAGS.paths[0]]
    print(f"after: {load_average()}")
    print(f"  {'path':20s} {'median s':>9s} {'fastest s':>9s} {'÷ ' + FLAGS.paths[0]:>22s}")
    for name, seconds in times.items():
        ratio = statistics.median(t / f for t, f in zip(seconds, first))
        print(f"  {name:20s} {statistics.median(seconds):9.3f} {min(seconds):9.3f} "
              f"{ratio:21.3f}x")


if __name__ == "__main__":
    cli.run(main)   # --backend, --verbose, quiet logging, one-line errors
