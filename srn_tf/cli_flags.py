"""absl flags shared by deblur.py and evaluate.py: how to run the network on whole images."""

from absl import flags

from srn_tf.inference import DEFAULT_OVERLAP, PRECISIONS


def define_inference_flags():
    flags.DEFINE_integer("tile", None, "tile size (multiple of 16); 0 = whole image; default: "
                         "chosen from --memory_budget_mb (images up to 720p's size run whole)")
    flags.DEFINE_integer("overlap", DEFAULT_OVERLAP, "pixels shared by neighbouring tiles")
    flags.DEFINE_integer("memory_budget_mb", None, "activation memory allowed per tile, MiB "
                         "(default: a 1280×720 image's, about 630 MiB)")
    flags.DEFINE_enum("precision", "float32", list(PRECISIONS),
                      "bfloat16: faster on CPUs with AMX/AVX-512-BF16 and recent GPUs")
    flags.DEFINE_boolean("jit_compile", False, "compile the network with XLA")


def inference_options():
    """The flags above as keyword arguments of `srn_tf.deblur`."""
    values = flags.FLAGS
    options = {"tile": values.tile, "overlap": values.overlap, "precision": values.precision,
               "jit_compile": values.jit_compile}
    if values.memory_budget_mb:
        options["memory_budget"] = values.memory_budget_mb * 2 ** 20
    return options
