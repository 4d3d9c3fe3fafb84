"""The release's training loss: L2 summed over the three scales, in `keras.ops` (any backend)."""

from keras import ops

from srn_tf.layers import legacy_resize, spatial_size


def multiscale_l2(sharp, outputs):
    """Σ over levels of mean((sharp resized to the level − level output)²).

    Args:
      sharp: float32 [N, H, W, C] in [0, 1] (a tensor of the running backend).
      outputs: the model's three level outputs, coarsest first (any float dtype).
    Returns:
      (total float32 scalar, list of the three per-level float32 scalars), summed in level
      order. The sharp image is resized with the release's bilinear resize (no half-pixel
      centres), as in the release's `build_model` loss.
    """
    per_level = []
    for output in outputs:
        output = ops.cast(output, "float32")
        target = legacy_resize(sharp, spatial_size(output))
        per_level.append(ops.mean(ops.square(target - output)))
    total = per_level[0]
    for level in per_level[1:]:
        total = total + level
    return total, per_level
