"""The release's training loss: L2 summed over the three scales."""

import tensorflow as tf

from srn_tf.layers import legacy_resize, spatial_size


def multiscale_l2(sharp, outputs):
    """Σ over levels of mean((sharp resized to the level − level output)²).

    Args:
      sharp: float32 [N, H, W, C] in [0, 1].
      outputs: the model's three level outputs, coarsest first (any float dtype).
    Returns:
      (total float32 scalar, list of the three per-level float32 scalars). The sharp image is
      resized with the release's bilinear resize (no half-pixel centres).
    """
    per_level = []
    for output in outputs:
        output = tf.cast(output, tf.float32)
        target = legacy_resize(sharp, spatial_size(output))
        per_level.append(tf.reduce_mean(tf.square(target - output)))
    return tf.add_n(per_level), per_level
