"""Inference side by side: srn-tf, the release's graph and other runtimes, against this machine's
measured peak; memory against image size; the train step; accuracy of the fast paths.

  python benchmarks/inference.py                       # everything (tens of minutes on 2 cores)
  python benchmarks/inference.py --quick               # a small image, one run: checks it works
  python benchmarks/inference.py --paths=srn_float32,onnxruntime --nomemory --notrain
  python benchmarks/inference.py --paths=srn_float32,jax_float32,torch_float32,srn_bfloat16,\
      jax_bfloat16,torch_bfloat16 --nomemory --notrain      # the three Keras backends at 720p

Weights: --weights (a release checkpoint folder/prefix, or a .keras file, e.g. a train.py run's
model.keras: the release graph then reads them written in the release's format by
`srn_tf.convert.save_tf1_checkpoint`); without it, a release-format TF1 checkpoint with random
weights, written by tests/tf1_reference.py into a temporary folder. Timings do not depend on the
weights' values, the PSNR columns do; the header says which weights were used.

TensorFlow's start-up lines are hidden in this process and in each child, as in every srn-tf
command (`import srn_tf`: srn_tf.backend.quiet_backend_import); --verbose shows them.

Input: a real blurry photo, ../shared/data/real_blur/01.png (1280×720), resized (bicubic) to the
other sizes; without that folder, scikit-image's astronaut photo resized to 1280×720.

In one run it prints:
  * the CPU model, its ISA extensions that matter here (AVX-512, AVX-512-BF16, AMX, ...);
  * the peak: a large 5×5, 128→128-channel convolution (TensorFlow/oneDNN), float32 and
    bfloat16, GFLOP/s; the network's multiply-adds at the image size (srn_tf/flops.py);
  * per path (--paths), each in a fresh process: seconds per image (median of --runs after a
    warm-up), time ÷ the FLOP-bound time at the matching peak (bfloat16 paths: the bfloat16 peak),
    peak resident memory (MiB, the whole process: Python, TensorFlow and the runtime), and how far
    the result is from srn-tf float32's (PSNR in dB of the uint8 result against srn-tf float32's,
    "inf" when identical, the largest difference in grey levels, and the share of values equal).
    The LiteRT files are
    written beforehand by this process, so the timed ones hold only the runtime; the --runtime
    paths convert in the timed process, as users' runs do (their peak RSS includes TensorFlow
    and the conversion). Paths:
      default                    srn_tf.deblur as users run it: precision and runtime "auto"
                                 (`srn_tf.runtimes.choose`; the row names what it chose)
      srn_float32, srn_bfloat16  srn_tf.deblur, default tiling (Keras on TensorFlow); srn_float32
                                 always runs first: the reference of every PSNR column
      jax_float32, jax_bfloat16, torch_float32, torch_bfloat16
                                 srn_tf.deblur, default options, with Keras on JAX (jax.jit)
                                 or PyTorch (eager, inference mode): the process runs with
                                 --backend=jax|torch and never imports TensorFlow, so its peak
                                 RSS holds that framework only; "÷ FLOP-bound" is against the
                                 peak TensorFlow's convolution reaches on this CPU
      release_graph              the release's generator as tf.compat.v1 builds it
                                 (tests/tf1_reference.py), a Session on the checkpoint
      onnxruntime                srn_tf.deblur(runtime="onnxruntime"): the network converted to
                                 ONNX (tf2onnx) on ONNX Runtime's CPU provider, default tiling
      openvino_float32, openvino_bfloat16
                                 srn_tf.deblur(runtime="openvino", precision=...): the same ONNX
                                 on OpenVINO's CPU plugin, precision hint f32/bf16
      litert, litert_float16     the LiteRT export (XNNPack; float16: float16 weights)
  * peak RSS of srn-tf float32 (default options) at each --memory_sizes, each in a fresh process,
    and the ratio to the first size;
  * with --train: the train step (release recipe 16×256², the CPU recipe), float32/XLA/bfloat16;
  * with trained --accuracy_weights (.keras files; default the color and lstm models of
    `python train.py` and `python train.py --model=lstm`): the mean PSNR and SSIM change (against
    the sharp images of the embedded test set) of srn-tf bfloat16, of the default path on this
    CPU and of the float16-weight LiteRT export, each against srn-tf float32, and whether
    the default stays within issue 24's bound (0.05 dB, 0.001 SSIM).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# Whether the user set TensorFlow's log level; if not, `import srn_tf` sets it (to 2) while it
# imports TensorFlow quietly, and the child processes must not inherit that (see run_child).
USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")

import srn_tf  # noqa: E402,F401  (the backend's framework without its start-up lines)
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from srn_tf.hardware import describe as cpu_description  # noqa: E402
from srn_tf import cli  # noqa: E402
from srn_tf.backend import lazy_tensorflow  # noqa: E402
from timing import PHOTO, median_time, photo  # noqa: E402  (benchmarks/timing.py)

tf = lazy_tensorflow("this benchmark's TensorFlow paths")   # a JAX/PyTorch child never needs it

PATHS = ("default", "srn_float32", "srn_bfloat16", "jax_float32", "jax_bfloat16", "torch_float32",
         "torch_bfloat16", "release_graph", "onnxruntime", "openvino_float32",
         "openvino_bfloat16", "litert", "litert_float16")
BFLOAT16_PATHS = ("srn_bfloat16", "jax_bfloat16", "torch_bfloat16", "openvino_bfloat16")

flags.DEFINE_string("weights", None, "release checkpoint (folder or prefix) or .keras file; "
                    "default: a random-weight release-format checkpoint (tests/tf1_reference.py)")
flags.DEFINE_enum("model_type", "color", ["color", "gray", "lstm"],
                  "model type of the default random-weight checkpoint")
flags.DEFINE_list("paths", list(PATHS), f"which paths to time, of {', '.join(PATHS)}")
flags.DEFINE_string("size", "720x1280", "HxW of the timed image")
flags.DEFINE_integer("runs", 3, "timed runs after the warm-up (the median is shown)")
flags.DEFINE_boolean("memory", True, "peak RSS of srn-tf float32 against image size")
flags.DEFINE_list("memory_sizes", ["720x1280", "2160x3840", "4000x6000"],
                  "HxW sizes for the memory figures, the first is the reference")
flags.DEFINE_boolean("train", True, "also time the train step")
flags.DEFINE_list("accuracy_weights",
                  [os.path.join(ROOT, "checkpoints", "train_color", "model.keras"),
                   os.path.join(ROOT, "checkpoints", "train_lstm", "model.keras")],
                  "trained .keras weights (color, lstm) for the fast paths' PSNR and SSIM change "
                  "against float32 (each skipped when missing)")
flags.DEFINE_boolean("quick", False, "check that everything runs: 128x224 image, 1 run, "
                     "memory at 128x224 and 256x448, no train step")
flags.DEFINE_string("child", None, "internal: run one path in this process (JSON on stdout)")
flags.DEFINE_string("child_output", None, "internal: .npy file for the child's result")
flags.DEFINE_string("exports", "", "internal: the folder of the exported files")
FLAGS = flags.FLAGS


def parse_size(text):
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


PEAK_SHAPES = ((1, 192, 192), (1, 368, 640), (4, 192, 192))   # N, H, W of the 128-channel input


def peak_gflops(dtype, runs, shapes=PEAK_SHAPES):
    """The best of a large 5×5, 128→128-channel convolution over a few input shapes."""
    best = 0.0
    w = tf.cast(tf.random.uniform((5, 5, 128, 128)) * 0.01, dtype)
    for n, h, wd in shapes:
        x = tf.cast(tf.random.uniform((n, h, wd, 128)), dtype)
        conv = tf.function(lambda x=x: tf.nn.conv2d(x, w, 1, "SAME"))
        flop = 2 * n * h * wd * 25 * 128 * 128
        best = max(best, flop / median_time(lambda: conv().numpy(), max(runs, 5)) / 1e9)
    return best


def peak_rss_mib():
    """This process's peak resident memory, MiB: VmHWM, the high-water mark of its own address
    space (getrusage's ru_maxrss would also count the parent's memory at fork, kept across exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


# ---- the paths, each run in its own process ----------------------------------------------

# The paths that are srn_tf.deblur with default options: (runtime, precision).
DEBLUR_PATHS = {"srn_float32": ("keras", "float32"),
                "srn_bfloat16": ("keras", "bfloat16"),
                "jax_float32": ("keras", "float32"), "jax_bfloat16": ("keras", "bfloat16"),
                "torch_float32": ("keras", "float32"), "torch_bfloat16": ("keras", "bfloat16"),
                "onnxruntime": ("onnxruntime", "float32"),
                "openvino_float32": ("openvino", "float32"),
                "openvino_bfloat16": ("openvino", "bfloat16"),
                "default": ("auto", "auto")}


def srn_path(model, runtime, precision):
    from srn_tf import deblur
    return lambda image: deblur(model, image, runtime=runtime, precision=precision)


def release_graph_path(weights, model_type, height, width):
    """The release's generator (tests/tf1_reference.py) in a tf.compat.v1 Session, restored from
    the TF1 checkpoint; its test path: pad to 16, finest level, clip, ×255, truncate."""
    import tf1_reference
    from srn_tf.convert import resolve_checkpoint_prefix
    v1 = tf.compat.v1
    padded = (-(-height // 16) * 16, -(-width // 16) * 16)
    channels = 3 if model_type == "color" else 1
    graph = tf.Graph()
    with graph.as_default():
        batch = 1 if channels == 3 else 3
        inputs = v1.placeholder(tf.float32, (batch,) + padded + (channels,))
        finest = tf1_reference.generator(inputs, model_type)[-1]
        session = v1.Session(graph=graph)
        v1.train.Saver(v1.trainable_variables()).restore(session, resolve_checkpoint_prefix(weights))

    def run(image):
        x = np.pad(image.astype(np.float32) / 255, ((0, padded[0] - height),
                                                    (0, padded[1] - width), (0, 0)), "edge")
        x = x[None] if channels == 3 else np.transpose(x, (2, 0, 1))[..., None]
        y = session.run(finest, {inputs: x})
        y = y[0] if channels == 3 else np.transpose(y[..., 0], (1, 2, 0))
        return (np.clip(y[:height, :width], 0, 1) * 255).astype(np.uint8)
    return run


EXPORTS = {"litert": "model.tflite", "litert_float16": "model_float16.tflite"}
RELEASE_FORMAT = "release_format"      # the folder of .keras weights written as a TF1 checkpoint
KERAS_WEIGHTS = "weights.keras"        # the weights as a .keras file, for the JAX/PyTorch paths


def write_exports(weights, paths, height, width, folder):
    """The exported files the paths need, written here so that the timed processes hold only
    the runtime (conversion takes far more memory than running). LiteRT: fixed input size."""
    from srn_tf import export, load_model
    from srn_tf.convert import is_tf1_checkpoint, save_tf1_checkpoint
    model = load_model(weights)
    for name in sorted({EXPORTS[p] for p in paths if p in EXPORTS}):
        export.export_file(model, os.path.join(folder, name), "tflite", weights, (height, width),
                           float16="float16" in name)
    if "release_graph" in paths and not is_tf1_checkpoint(weights):
        save_tf1_checkpoint(model, os.path.join(folder, RELEASE_FORMAT, "deblur.model-0"))
    if any(path_backend(p) != "tensorflow" for p in paths):   # no TensorFlow in those processes
        model.save(os.path.join(folder, KERAS_WEIGHTS))


def litert_path(path):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner()
    return lambda image: runner(images=image[None])["deblurred"][0]


def child(name, runs):
    """Times one path in this process; prints {"seconds", "peak_mib"} as JSON."""
    height, width = parse_size(FLAGS.size)
    image = photo(height, width)
    exported = os.path.join(FLAGS.exports, EXPORTS.get(name, ""))
    if name in DEBLUR_PATHS:
        from srn_tf import load_model
        weights = (FLAGS.weights if path_backend(name) == "tensorflow"
                   else os.path.join(FLAGS.exports, KERAS_WEIGHTS))
        run = srn_path(load_model(weights), *DEBLUR_PATHS[name])
        if name == "default":       # what srn_tf.deblur chooses here (srn_tf.runtimes.choose)
            from srn_tf import runtimes
            chosen = runtimes.choose()
            print(chosen, file=sys.stderr)
    elif name == "release_graph":
        written = os.path.join(FLAGS.exports, RELEASE_FORMAT)     # .keras weights, converted
        run = release_graph_path(written if os.path.isdir(written) else FLAGS.weights,
                                 FLAGS.model_type, height, width)
    elif name.startswith("litert"):
        run = litert_path(exported)
    else:
        raise app.UsageError(f"unknown path {name!r}; paths: {', '.join(PATHS)}")
    result = {"seconds": median_time(lambda: run(image), runs)} if runs > 0 else {}
    output = run(image)
    if FLAGS.child_output:
        np.save(FLAGS.child_output, output)
    result["peak_mib"] = peak_rss_mib()
    if name == "default":
        result["precision"] = chosen.precision
        result["chosen"] = f"{chosen.precision} on {chosen.runtime}"
    print(json.dumps(result))


def framework_versions():
    """"Keras x, JAX y, PyTorch z" for what is installed (JAX and PyTorch paths need them)."""
    import importlib.metadata
    found = []
    for label, package in (("Keras", "keras"), ("JAX", "jax"), ("PyTorch", "torch")):
        try:
            found.append(f"{label} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"no {label}")
    return ", ".join(found)


def path_backend(name):
    """The Keras backend a path runs on: jax_* and torch_* their own, all others tensorflow."""
    backend = name.split("_")[0]
    return backend if backend in ("jax", "torch") else "tensorflow"


def run_child(name, size, runs, weights, output=None, exports=""):
    command = [sys.executable, os.path.abspath(__file__), f"--child={name}", f"--size={size}",
               f"--runs={runs}", f"--weights={weights}", f"--model_type={FLAGS.model_type}",
               f"--exports={exports}", f"--backend={path_backend(name)}"]
    if output:
        command.append(f"--child_output={output}")
    env = dict(os.environ)
    if USER_TF_LOG_LEVEL is None:   # each child imports TensorFlow quietly itself
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    if FLAGS.verbose:               # ...or shows what it prints, as this process does
        command.append("--verbose")
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True,
                            stderr=None if FLAGS.verbose else subprocess.PIPE)
    if result.returncode != 0:
        return {"error": ((result.stderr or "").strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- the report --------------------------------------------------------------------------

def default_weights(folder, model_type):
    import tf1_reference
    channels = 3 if model_type == "color" else 1
    images = np.random.default_rng(0).random((1, 32, 32, channels), dtype=np.float32)
    prefix, _ = tf1_reference.write_checkpoint(folder, model_type, images)
    return prefix


def compare(result, reference):
    """(PSNR in dB, largest |difference|, share of values equal) of a uint8 result against the
    reference's."""
    from skimage.metrics import peak_signal_noise_ratio
    difference = np.abs(result.astype(int) - reference)
    psnr = (float("inf") if not difference.any()
            else peak_signal_noise_ratio(reference, result, data_range=255))
    return psnr, int(difference.max()), float((difference == 0).mean())


def side_by_side(weights, peaks, folder):
    from srn_tf.flops import network_macs
    size = "128x224" if FLAGS.quick else FLAGS.size
    height, width = parse_size(size)
    flop = 2 * network_macs(height, width, FLAGS.model_type)
    print(f"network: {flop / 2e12:.3f} T multiply-adds per {width}x{height} image "
          f"({flop / 1e12:.2f} TFLOP)")
    print(f"per path, {width}x{height}, median of {FLAGS.runs} runs after a warm-up, each in a "
          f"fresh process:")
    print(f"  {'path':28s} {'s/image':>8s} {'÷ FLOP-bound':>12s} {'peak RSS':>10s} "
          f"{'PSNR vs srn f32':>16s} {'max |Δ|':>8s} {'equal':>9s}")
    reference = None     # srn-tf float32's result: every path is compared with it
    paths = ["srn_float32"] + [p for p in FLAGS.paths if p != "srn_float32"]
    write_exports(weights, paths, height, width, folder)
    for name in paths:
        output = os.path.join(folder, f"{name}.npy")
        result = run_child(name, size, FLAGS.runs, weights, output, folder)
        if "error" in result:
            print(f"  {name:28s} failed: {result['error']}")
            continue
        image = np.load(output)
        if reference is None:
            reference = image
        psnr, largest, equal = compare(image, reference)
        precision = result.get("precision", "bfloat16" if name in BFLOAT16_PATHS else "float32")
        peak = peaks[precision]
        bound = flop / (peak * 1e9)
        label = f"default ({result['chosen']})" if "chosen" in result else name
        print(f"  {label:28s} {result['seconds']:8.2f} {result['seconds'] / bound:11.2f}x "
              f"{result['peak_mib']:7.0f} MiB {psnr:13.2f} dB {largest:8d} {100 * equal:8.3f}%")


def memory_flatness(weights):
    sizes = ["128x224", "256x448"] if FLAGS.quick else FLAGS.memory_sizes
    print("peak RSS, srn-tf float32 with default options (tiles above 720p's pixel count), one "
          "image per fresh process:")
    first = None
    for size in sizes:
        result = run_child("srn_float32", size, 0, weights)
        if "error" in result:
            print(f"  {size}: failed: {result['error']}")
            continue
        first = first or result["peak_mib"]
        height, width = parse_size(size)
        print(f"  {width}x{height}: {result['peak_mib']:7.0f} MiB = "
              f"{result['peak_mib'] / first:.2f}x the first")


def row(name, seconds, flop, peak):
    bound = flop / (peak * 1e9)
    print(f"  {name:34s} {seconds:8.2f} s  {flop / seconds / 1e9:7.1f} GFLOP/s  "
          f"{seconds / bound:5.2f}x the FLOP-bound time ({bound:.2f} s)")


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


# The accuracy bound of the default path (issue 24): mean changes against srn-tf float32.
PSNR_BOUND, SSIM_BOUND = 0.05, 0.001


def accuracy(weights_files):
    """Per trained weights file: the mean PSNR and SSIM change (against the sharp images of the
    embedded test set, photos never trained on) of srn-tf bfloat16, the default path
    (`srn_tf.runtimes.choose` on this CPU) and the float16-weight LiteRT export, each against
    srn-tf float32, with the bound the default must stay within."""
    from ai_edge_litert.interpreter import Interpreter
    from srn_tf import deblur, export, load_model, metrics, runtimes, sources
    from srn_tf.image_io import read_image
    pairs = sources.resolve_pairs(None, split="test")
    default = runtimes.choose()
    print(f"accuracy against srn-tf float32 on the embedded test set ({len(pairs)} held-out "
          f"photos, against their sharp images); bound of the default path: mean |ΔPSNR| ≤ "
          f"{PSNR_BOUND} dB, mean |ΔSSIM| ≤ {SSIM_BOUND}; {default}")
    for weights in weights_files:
        if not os.path.exists(weights):
            print(f"  {weights}: skipped, no such file (train it: python train.py)")
            continue
        model = load_model(weights)
        litert = Interpreter(model_content=export.tflite_bytes(model, weights, float16=True))
        runner = litert.get_signature_runner()
        paths = {"srn-tf bfloat16": lambda image: deblur(model, image, precision="bfloat16",
                                                         runtime="keras"),
                 f"default ({default.precision} on {default.runtime})":
                     lambda image: deblur(model, image),
                 "LiteRT float16 weights": lambda image: runner(images=image[None])["deblurred"][0]}
        changes = {name: ([], []) for name in paths}
        for pair in pairs:
            # RGB photos (the lstm model runs each channel as its own image, as the release did)
            blur, sharp = read_image(pair.blur)[:, :, :3], read_image(pair.sharp)[:, :, :3]
            exact = deblur(model, blur, precision="float32", runtime="keras")
            reference = metrics.psnr(sharp, exact), metrics.ssim(sharp, exact)
            for name, path in paths.items():
                result = path(blur)
                changes[name][0].append(metrics.psnr(sharp, result) - reference[0])
                changes[name][1].append(metrics.ssim(sharp, result) - reference[1])
        for name, (psnr, ssim) in changes.items():
            within = abs(np.mean(psnr)) <= PSNR_BOUND and abs(np.mean(ssim)) <= SSIM_BOUND
            print(f"  {os.path.relpath(weights)} {name}: mean PSNR change {np.mean(psnr):+.4f} dB "
                  f"(largest {max(psnr, key=abs):+.4f}), mean SSIM change {np.mean(ssim):+.5f} "
                  f"(largest {max(ssim, key=abs):+.5f}); "
                  f"{'within' if within else 'OUTSIDE'} the bound")


def main(argv):
    del argv
    if not FLAGS.verbose:   # TF1 deprecation notices of the release graph
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
        if not FLAGS.child or path_backend(FLAGS.child) == "tensorflow":
            tf.get_logger().setLevel("ERROR")
    if FLAGS.child:
        child(FLAGS.child, FLAGS.runs)
        return
    if FLAGS.quick:
        FLAGS.runs, FLAGS.train = 1, False
    unknown = [p for p in FLAGS.paths if p not in PATHS]
    if unknown:
        raise app.UsageError(f"unknown --paths {unknown}; choose from {', '.join(PATHS)}")
    print(f"{time.strftime('%Y-%m-%d')}, {cpu_description()}, {os.cpu_count()} cores, "
          f"TF {tf.__version__}, {framework_versions()}")
    with tempfile.TemporaryDirectory() as folder:
        weights = FLAGS.weights
        if not weights:
            weights = default_weights(folder, FLAGS.model_type)
            print(f"weights: a release-format TF1 checkpoint of the {FLAGS.model_type} model with "
                  f"random weights (tests/tf1_reference.py)")
        else:
            print(f"weights: {weights}")
        source = PHOTO if os.path.exists(PHOTO) else "scikit-image's astronaut (no real_blur)"
        print(f"image: {source}, resized (bicubic) where another size is needed")
        shapes = ((1, 96, 96),) if FLAGS.quick else PEAK_SHAPES
        peaks = {"float32": peak_gflops(tf.float32, FLAGS.runs, shapes),
                 "bfloat16": peak_gflops(tf.bfloat16, FLAGS.runs, shapes)}
        print(f"peak (TensorFlow 5x5 conv, 128->128 channels, best of NxHxW {shapes}): float32 "
              f"{peaks['float32']:.1f} GFLOP/s, bfloat16 {peaks['bfloat16']:.1f} GFLOP/s")
        if FLAGS.paths:
            side_by_side(weights, peaks, folder)
        if FLAGS.memory:
            memory_flatness(weights)
    if FLAGS.train:
        time_train_step(FLAGS.runs, peaks)
    if not FLAGS.quick:
        accuracy(FLAGS.accuracy_weights)


if __name__ == "__main__":
    cli.run(main)   # --verbose, quiet logging
