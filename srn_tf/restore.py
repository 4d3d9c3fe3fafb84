"""The release's test path on a batch, in `keras.ops` (any backend), and its precisions.

What the release did to an image before and after its network: edge padding at the bottom and
right to multiples of 16, grayscale types run on each channel as its own image, the finest level
kept, clipped to [0, 1], and integers read as ÷ max value and written as × max value, truncated.
Written once here with `keras.ops`: `srn_tf.inference` runs it per tile on every backend
(compiled with `tf.function`, `jax.jit` or run eagerly under PyTorch), and the TensorFlow
exports run it inside their graphs (`srn_tf.tf_graph`). Shapes may be dynamic on the TensorFlow
backend (int scalar tensors); on JAX and PyTorch they are Python ints.
"""

import weakref

import numpy as np
from keras import backend as keras_backend
from keras import ops

from srn_tf.model import SIZE_MULTIPLE, as_levels, image_channels, rebuild

PRECISIONS = ("float32", "bfloat16")


def pad_to_multiple(images, multiple=SIZE_MULTIPLE):
    """Edge-pads [N, H, W, C] at the bottom and right to multiples of `multiple`.

    Repeats the last row and column, like the release's `np.pad(..., 'edge')`. Graph-safe.
    """
    for axis in (1, 2):
        size = ops.shape(images)[axis]
        padded = (size + multiple - 1) // multiple * multiple
        images = ops.take(images, ops.minimum(ops.arange(padded), size - 1), axis=axis)
    return images


def restore_batch(model, images, model_type):
    """Deblurs a float batch of any size: [N, H, W, C] in [0, 1] → [N, H, W, C] in [0, 1].

    `model` is a model from `build_srn`, or any callable model(x, training=False) → its levels.
    color (and baseline) models take C = 3. gray and lstm models take any C and deblur each
    channel as its own 1-channel image (channels moved to the batch axis and back), as the release
    did for RGB.
    Returns the finest level, cropped back to H × W and clipped to [0, 1], float32. Graph-safe:
    used by `srn_tf.deblur` and by the TensorFlow exports.
    """
    return ops.clip(finest_level(model, images, model_type), 0.0, 1.0)


def finest_level(model, images, model_type):
    """The finest level for a float batch of any size, before clipping: [N, H, W, C] float32.

    Padding and the channel handling as in `restore_batch` (which clips this to [0, 1]); the
    exported LiteRT and ONNX models return it beside their uint8 result. Graph-safe.
    """
    x = _network_batch(images, model_type)
    return _image_batch(as_levels(model(x, training=False))[-1], images, model_type)


def restore_with_state(model, images, state):
    """`restore_batch` for an lstm model built with `state_io=True`, carrying the ConvLSTM state.

    images: float32 [N, H, W, C] in [0, 1]; state: float32 [N·C, h, w, 256], the state returned
    for the previous frame (any h, w; zeros, e.g. [N·C, 1, 1, 256], start afresh as the release).
    Returns (restored [N, H, W, C] in [0, 1], the new state). Graph-safe.
    """
    outputs = model([_network_batch(images, "lstm"), state], training=False)
    restored = ops.clip(_image_batch(outputs[-2], images, "lstm"), 0.0, 1.0)
    return restored, outputs[-1]


def _network_batch(images, model_type):
    """[N, H, W, C] → padded to multiples of 16, channels to the batch axis for 1-channel types."""
    x = pad_to_multiple(images)
    if image_channels(model_type) == 1:
        height, width = ops.shape(x)[1:3]
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, height, width, 1))
    return x


def _image_batch(finest, images, model_type):
    """Inverse of `_network_batch` for the finest level, then cropped to `images`' size."""
    count, height, width, channels = ops.shape(images)
    finest = ops.cast(finest, "float32")
    if image_channels(model_type) == 1:
        padded_height, padded_width = ops.shape(finest)[1:3]
        finest = ops.transpose(ops.reshape(finest, (count, channels, padded_height, padded_width)),
                               (0, 2, 3, 1))
    return finest[:, :height, :width, :]


def _max_value(dtype):
    return float(np.iinfo(keras_backend.standardize_dtype(dtype)).max)


def to_unit_range(images):
    """uint8 / uint16 → float32 in [0, 1] (÷ the dtype's max value), as the release read images."""
    return ops.cast(images, "float32") / _max_value(images.dtype)


def from_unit_range(restored, dtype):
    """float in [0, 1] → `dtype` (× max value, truncated), as the release wrote its results."""
    return ops.cast(restored * _max_value(dtype), keras_backend.standardize_dtype(dtype))


def precision_policy(precision):
    """The Keras dtype policy that runs the network in `precision` ("float32" or "bfloat16")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"


# Per model: what has been compiled or converted for it (bfloat16 twins, tf.functions, jitted
# functions, ONNX), kept while the model lives.
_compiled = weakref.WeakKeyDictionary()


def compiled_for(model):
    """The cache of what has been built for `model` (a dict kept while the model lives)."""
    return _compiled.setdefault(model, {})


def computes_in_float32(model):
    """Whether every layer of `model` computes in float32 (not a model built under a mixed policy,
    as `srn-train` builds its model for mixed_bfloat16 or mixed_float16 training)."""
    return all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers)


def inference_model(model, precision):
    """The network that runs `model` in `precision`: `model` itself where it computes in float32
    and float32 is asked; else a twin under `precision_policy(precision)` (for bfloat16 the
    resizes, the ConvLSTM and the output conv stay float32), built once per model and precision.
    A twin holds copies of the weights: `sync_twins` brings them up to date."""
    policy = precision_policy(precision)
    if policy == "float32" and computes_in_float32(model):
        return model
    twins = compiled_for(model)
    if ("twin", policy) not in twins:
        twins["twin", policy] = rebuild(model, policy)
    return twins["twin", policy]


def sync_twins(model):
    """Assigns `model`'s current weights to its twins (`inference_model`): called before each run,
    so that a model trained or changed between two calls runs with its new weights, not with
    those it had when a twin was built (one device copy of the weights, no retracing)."""
    for key, twin in compiled_for(model).items():
        if isinstance(key, tuple) and key[0] == "twin":
            for target, source in zip(twin.weights, model.weights):
                target.assign(source)
