"""srn-tf on a GPU with JAX and PyTorch (no TensorFlow there): parity with the release's graph,
and seconds per 720p image.

  python benchmarks/gpu_backends.py --write_reference          # here, with TensorFlow (CPU)
  python benchmarks/gpu_backends.py                            # on the GPU machine

--write_reference (needs TensorFlow and tests/tf1_reference.py) writes --reference
(default benchmarks/gpu_reference.npz, about 2 MiB; git ignores it: write it before a GPU run
and carry it there, e.g. the device tool's carry=["benchmarks/gpu_reference.npz"]): for each
model type (color, gray, lstm),
stand-in weights drawn from a seeded numpy generator (tests/stand_in.py: image-like outputs,
non-zero biases, a ConvLSTM that matters; the GPU run draws them again: no weight file travels),
the three levels of the release's generator graph
(tests/tf1_reference.py, tf.compat.v1, restored from those weights written as a release
checkpoint) on a random batch, and `srn_tf.deblur`'s uint8 result on TensorFlow for a crop of the
real photo (../shared/data/real_blur/01.png; a synthetic scene where it is missing). The timed
image is that photo at --size, or the synthetic scene (timings do not depend on content).

Without --write_reference, for each backend (--backends, default jax,torch), in a fresh process
with KERAS_BACKEND set: the device (the GPU's name, or CPU when there is none), then per model
type the largest |Δ| of each level against the release's graph (the bound: 1e-5; GPUs' TF32 or
reduced-precision convolutions would exceed it, so both backends are asked for full float32:
`jax_default_matmul_precision=highest`, `torch.backends.*.allow_tf32 = False`) and the share of
uint8 values equal to TensorFlow's (bound ≥ 99.99 %), and the seconds per image at --size
(`srn_tf.deblur`, whole image, median of --runs after a warm-up, numpy in and out) in float32,
bfloat16 (Keras mixed_bfloat16: `deblur(..., precision="bfloat16")`) and float16 (the model
rebuilt under mixed_float16), with each low precision's largest grey-level difference from
float32.

On a machine without TensorFlow, the project and Keras must be importable: run from the
repository root (the project is found there), and if Keras is missing, carry it:
`python -m pip download --no-deps --dest=.gpu_wheels keras namex optree` here, then there
`python -m pip install --no-deps .gpu_wheels/*` (h5py, ml_dtypes, rich, absl-py, Pillow, numpy
are usually installed with JAX/PyTorch; the script names what is missing).
--smoke runs everything on tiny sizes (CPU is fine) to check that it works.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402

from stand_in import stand_in_weights  # noqa: E402  (tests/stand_in.py: numpy only)
from timing import median_time  # noqa: E402  (benchmarks/timing.py)

MODEL_TYPES = ("color", "gray", "lstm")
DEFAULT_REFERENCE = os.path.join(ROOT, "benchmarks", "gpu_reference.npz")
PHOTO = os.path.join(ROOT, "..", "shared", "data", "real_blur", "01.png")
LEVELS_SHAPE = (2, 96, 160)      # batch of the parity check
CROP = (192, 320)                # the photo crop of the uint8 check: 184,320 values
CROP_SOURCE = (720, 1280)        # ... taken from the photo at this size


def read_photo(height, width):
    """uint8 [height, width, 3]: the real blurry photo resized (bicubic), else a smooth scene."""
    from PIL import Image
    if os.path.exists(PHOTO):
        with Image.open(PHOTO) as image:
            return np.asarray(image.convert("RGB").resize((width, height), Image.BICUBIC))
    y, x = np.mgrid[0:height, 0:width]
    scene = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 40 * ((x // 20 + y // 20) % 2)
    return np.clip(np.stack([scene, scene * 0.8, 255 - scene], -1), 0, 255).astype(np.uint8)


def write_reference(path, smoke):
    """The reference outputs, computed here with TensorFlow (see the module docstring)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tempfile
    import srn_tf
    import tensorflow as tf
    import tf1_reference
    from srn_tf.convert import save_tf1_checkpoint
    tf.get_logger().setLevel("ERROR")
    levels_shape = (1, 32, 48) if smoke else LEVELS_SHAPE
    crop = (48, 80) if smoke else CROP
    rng = np.random.default_rng(0)
    arrays = {"crop": read_photo(*CROP_SOURCE)[:crop[0], :crop[1]]}
    for k, model_type in enumerate(MODEL_TYPES):
        model = stand_in_weights(srn_tf.build_srn(model_type), seed=k)
        images = rng.random(levels_shape + (model.input_shape[-1],), dtype=np.float32)
        with tempfile.TemporaryDirectory() as folder:
            prefix = save_tf1_checkpoint(model, os.path.join(folder, "deblur.model-0"))
            levels = tf1_reference.levels(prefix, model_type, images)
        arrays[f"{model_type}_input"] = images
        for i, level in enumerate(levels):
            arrays[f"{model_type}_level{i}"] = level
        arrays[f"{model_type}_uint8"] = srn_tf.deblur(model, arrays["crop"], tile=0)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path}: TF {tf.__version__}, levels of the release's graph on "
          f"{'x'.join(map(str, levels_shape))} inputs, uint8 results of a "
          f"{crop[0]}x{crop[1]} photo crop")


def device_name(backend):
    """The accelerator this backend runs on: the GPU's name, or "CPU (no GPU)"."""
    if backend == "torch":
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (no GPU)"
    import jax
    device = jax.devices()[0]
    return device.device_kind if device.platform == "gpu" else "CPU (no GPU)"


def full_float32(backend):
    """Asks the backend for IEEE float32 matrix products and convolutions (no TF32)."""
    if backend == "torch":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")


def child(backend, reference, size, runs):
    """One backend in this process: prints one JSON line of figures."""
    os.environ["KERAS_BACKEND"] = backend
    import keras
    import srn_tf
    from srn_tf.model import rebuild
    full_float32(backend)
    arrays = np.load(reference)
    figures = {"backend": backend, "device": device_name(backend),
               "keras": keras.__version__, "parity": {}, "seconds": {}}
    for k, model_type in enumerate(MODEL_TYPES):
        model = stand_in_weights(srn_tf.build_srn(model_type), seed=k)
        levels = model(arrays[f"{model_type}_input"])
        deltas = [float(np.abs(keras.ops.convert_to_numpy(ours) -
                               arrays[f"{model_type}_level{i}"]).max())
                  for i, ours in enumerate(levels)]
        uint8 = srn_tf.deblur(model, arrays["crop"], tile=0)
        figures["parity"][model_type] = {
            "max_abs_per_level": deltas,
            "uint8_equal": float((uint8 == arrays[f"{model_type}_uint8"]).mean())}
    photo = read_photo(*size)
    model = stand_in_weights(srn_tf.build_srn("color"), seed=0)
    float32 = srn_tf.deblur(model, photo, tile=0)
    half = rebuild(model, "mixed_float16")
    paths = {"float32": lambda: srn_tf.deblur(model, photo, tile=0),
             "bfloat16": lambda: srn_tf.deblur(model, photo, tile=0, precision="bfloat16"),
             "float16": lambda: srn_tf.deblur(half, photo, tile=0)}
    for name, run in paths.items():
        try:
            seconds = median_time(run, runs)
        except Exception as e:   # noqa: BLE001  (a precision the backend cannot run here)
            figures["seconds"][name] = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
            continue
        difference = int(np.abs(run().astype(int) - float32).max())
        figures["seconds"][name] = {"seconds": seconds, "max_grey_levels_from_float32":
                                    difference}
    print(json.dumps(figures))


def report(figures, size):
    print(f"{figures['backend']} on {figures['device']} (Keras {figures['keras']})")
    for model_type, parity in figures["parity"].items():
        levels = "  ".join(f"{d:.1e}" for d in parity["max_abs_per_level"])
        verdict = ("within" if max(parity["max_abs_per_level"]) <= 1e-5
                   and parity["uint8_equal"] >= 0.9999 else "OUTSIDE")
        print(f"  {model_type:6s} max |Δ| per level vs the release's graph {levels}; uint8 equal "
              f"to TensorFlow's {100 * parity['uint8_equal']:.3f} %  ({verdict} the bounds)")
    for name, timing in figures["seconds"].items():
        if "error" in timing:
            print(f"  {name:9s} not run: {timing['error']}")
        else:
            print(f"  {name:9s} {timing['seconds']:7.3f} s per {size[1]}x{size[0]} image "
                  f"(max {timing['max_grey_levels_from_float32']} grey levels from float32)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write_reference", action="store_true",
                        help="write the reference outputs (needs TensorFlow)")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="the reference .npz")
    parser.add_argument("--backends", default="jax,torch", help="comma-separated backends")
    parser.add_argument("--size", default="720x1280", help="HxW of the timed image")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after a warm-up")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, one run: checks that the script works (CPU is fine)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = (64, 96) if args.smoke else tuple(int(v) for v in args.size.lower().split("x"))
    runs = 1 if args.smoke else args.runs
    if args.write_reference:
        write_reference(args.reference, args.smoke)
        return
    if args.child:
        child(args.child, args.reference, size, runs)
        return
    if not os.path.exists(args.reference):
        sys.exit(f"error: no reference outputs at {args.reference}: write them first on a "
                 "machine with TensorFlow: python benchmarks/gpu_backends.py --write_reference")
    print(time.strftime("%Y-%m-%d"))
    for backend in args.backends.split(","):
        command = [sys.executable, os.path.abspath(__file__), f"--child={backend}",
                   f"--reference={args.reference}", f"--runs={runs}",
                   f"--size={size[0]}x{size[1]}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{backend}: failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        report(json.loads(result.stdout.strip().splitlines()[-1]), size)


if __name__ == "__main__":
    main()
