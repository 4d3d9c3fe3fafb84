"""srn-tf: the exact SRN-DeblurNet (Tao et al., CVPR 2018) in Keras 3, on TensorFlow, JAX or
PyTorch.

`import srn_tf` registers the custom Keras layers (package "srn_tf"), so that afterwards
`keras.models.load_model("model.keras")` finds them; `srn_tf.load_model` loads `.keras` files and
the release's TF1 checkpoints alike. Before Keras is imported, a `--backend=tensorflow|jax|torch`
on the command line sets KERAS_BACKEND (`srn_tf.backend.select_backend`, for the commands), and
the backend's framework is imported without its start-up lines; TensorFlow is imported only on the
TensorFlow backend or by a feature that needs it. The names from `srn_tf.convert` and
`srn_tf.inference` are imported when first used.
"""

import importlib

from srn_tf.backend import lean_start_up, quiet_backend_import, select_backend

__version__ = "0.1.0"

with lean_start_up(select_backend()):    # in a command: without Keras's unused integrations
    quiet_backend_import(select_backend())
    import keras  # noqa: F401

from srn_tf.model import MODEL_TYPES, build_srn  # noqa: E402  (registers the layers too)
from srn_tf.backend import quiet_keras_tensorflow_import  # noqa: E402

quiet_keras_tensorflow_import()

_LAZY = {"load_tf1_checkpoint": "srn_tf.convert", "detect_model_type": "srn_tf.convert",
         "load_model": "srn_tf.convert", "CheckpointError": "srn_tf.errors",
         "deblur": "srn_tf.inference"}

__all__ = ["build_srn", "MODEL_TYPES", "load_tf1_checkpoint", "detect_model_type", "load_model",
           "CheckpointError", "deblur", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'srn_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
