"""absl flags shared by deblur.py and evaluate.py: how to run the network on whole images."""

import sys

from absl import flags

from srn_tf.restore import PRECISIONS
from srn_tf.tiling import DEFAULT_OVERLAP, check_tiling
from srn_tf.runtimes import AUTO, RUNTIMES, choose


def define_inference_flags(precision=AUTO):
    """--tile, --overlap, --memory_budget_mb, --precision (default `precision`: "auto" for
    srn-deblur, float32 for srn-evaluate, whose figures are compared with the release's),
    --jit_compile and --runtime (default auto)."""
    flags.DEFINE_integer("tile", None, "tile size (multiple of 16); 0 = whole image; default: "
                         "chosen from --memory_budget_mb (images up to 720p's size run whole)")
    flags.DEFINE_integer("overlap", DEFAULT_OVERLAP, "pixels shared by neighbouring tiles")
    flags.DEFINE_integer("memory_budget_mb", None, "activation memory allowed per tile, MiB "
                         "(default: a 1280×720 image's, about 630 MiB)")
    flags.DEFINE_enum("precision", precision, [AUTO, *PRECISIONS],
                      "auto: bfloat16 where the CPU runs it natively (AVX-512-BF16, AMX), else "
                      "float32; float32: the release's exact path")
    flags.DEFINE_boolean("jit_compile", False, "compile the network with XLA (TensorFlow; JAX "
                         "always does)")
    flags.DEFINE_enum("runtime", AUTO, [AUTO, *RUNTIMES], "what runs the network: auto (the "
                      "fastest installed for this CPU and precision), keras (the model on "
                      "--backend); with --backend=tensorflow also openvino (OpenVINO CPU, float32 "
                      "or bfloat16) or onnxruntime (ONNX Runtime CPU, float32); same tiles, "
                      "results within a grey level")


def inference_options(keras_only=False):
    """The flags above as keyword arguments of `srn_tf.deblur`, "auto" resolved
    (`srn_tf.runtimes.choose`; keras_only for --temporal_state), and the `Choice`, whose line
    (`network: bfloat16 on keras (TensorFlow), ...`) the command prints once the weights have
    loaded (not before a refusal); exits with one line for unusable --tile/--overlap/
    --memory_budget_mb (`exit_unless_tiling_usable`) or a --runtime that cannot run with these
    options or is not installed: call it before loading weights. Returns (options, choice)."""
    values = flags.FLAGS
    exit_unless_tiling_usable(values.tile, values.overlap,
                              None if values.memory_budget_mb is None
                              else values.memory_budget_mb * 2 ** 20)
    defaults = tuple(name for name in ("precision", "runtime")
                     if not values[name].present and values[name].value != AUTO)
    try:
        choice = choose(values.runtime, values.precision, values.jit_compile, keras_only,
                        defaults)
    except (ValueError, ImportError) as e:
        sys.exit(f"error: {e}")
    options = {"tile": values.tile, "overlap": values.overlap, "precision": choice.precision,
               "jit_compile": values.jit_compile, "runtime": choice.runtime}
    if values.memory_budget_mb is not None:
        options["memory_budget"] = values.memory_budget_mb * 2 ** 20
    return options, choice


def exit_unless_tiling_usable(tile, overlap=DEFAULT_OVERLAP, memory_budget=None):
    """`check_tiling` for a command: an unusable --tile/--overlap/--memory_budget_mb exits with
    one line `error: …` (status 1); called before weights are loaded."""
    try:
        check_tiling(tile, overlap, memory_budget)
    except ValueError as e:
        sys.exit(f"error: {e}")
