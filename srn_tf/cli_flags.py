"""absl flags shared by deblur.py and evaluate.py: how to run the network on whole images."""

import sys

from absl import flags

from srn_tf.restore import PRECISIONS
from srn_tf.tiling import DEFAULT_OVERLAP, check_tiling
from srn_tf.runtimes import RUNTIMES, check_runtime


def define_inference_flags():
    flags.DEFINE_integer("tile", None, "tile size (multiple of 16); 0 = whole image; default: "
                         "chosen from --memory_budget_mb (images up to 720p's size run whole)")
    flags.DEFINE_integer("overlap", DEFAULT_OVERLAP, "pixels shared by neighbouring tiles")
    flags.DEFINE_integer("memory_budget_mb", None, "activation memory allowed per tile, MiB "
                         "(default: a 1280×720 image's, about 630 MiB)")
    flags.DEFINE_enum("precision", "float32", list(PRECISIONS),
                      "bfloat16: faster on CPUs with AMX/AVX-512-BF16 and recent GPUs")
    flags.DEFINE_boolean("jit_compile", False, "compile the network with XLA (TensorFlow; JAX "
                         "always does)")
    flags.DEFINE_enum("runtime", "keras", list(RUNTIMES), "what runs the network: keras (the "
                      "model on --backend); with --backend=tensorflow also openvino (OpenVINO "
                      "CPU, float32 or bfloat16) or onnxruntime (ONNX Runtime CPU, float32); "
                      "same tiles, results within a grey level")


def inference_options():
    """The flags above as keyword arguments of `srn_tf.deblur`; exits with one line for unusable
    --tile/--overlap/--memory_budget_mb (`exit_unless_tiling_usable`) or a --runtime that cannot
    run with these options or is not installed (`check_runtime`): call it before loading
    weights."""
    values = flags.FLAGS
    options = {"tile": values.tile, "overlap": values.overlap, "precision": values.precision,
               "jit_compile": values.jit_compile, "runtime": values.runtime}
    if values.memory_budget_mb is not None:
        options["memory_budget"] = values.memory_budget_mb * 2 ** 20
    exit_unless_tiling_usable(values.tile, values.overlap, options.get("memory_budget"))
    try:
        check_runtime(values.runtime, values.precision, values.jit_compile)
    except (ValueError, ImportError) as e:
        sys.exit(f"error: {e}")
    return options


def exit_unless_tiling_usable(tile, overlap=DEFAULT_OVERLAP, memory_budget=None):
    """`check_tiling` for a command: an unusable --tile/--overlap/--memory_budget_mb exits with
    one line `error: …` (status 1); called before weights are loaded."""
    try:
        check_tiling(tile, overlap, memory_budget)
    except ValueError as e:
        sys.exit(f"error: {e}")
