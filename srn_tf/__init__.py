"""srn-tf: the exact SRN-DeblurNet (Tao et al., CVPR 2018) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"

from srn_tf.convert import (CheckpointError, detect_model_type, load_model,  # noqa: E402
                            load_tf1_checkpoint)
from srn_tf.inference import deblur  # noqa: E402
from srn_tf.model import MODEL_TYPES, build_srn  # noqa: E402

__all__ = ["build_srn", "MODEL_TYPES", "load_tf1_checkpoint", "detect_model_type", "load_model",
           "CheckpointError", "deblur", "__version__"]
