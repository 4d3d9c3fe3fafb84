"""Deblurring whole images of any size with a model from `build_srn`, as the release tested.

`deblur(model, image)` pads to multiples of 16 (edge padding at the bottom and right), runs the
model as a compiled `tf.function` (one trace per padded shape), keeps the finest level, clips it to
[0, 1] and converts back the way the release did (× max value, then truncate).
"""

import logging
import weakref

import numpy as np
import tensorflow as tf

from srn_tf.model import SIZE_MULTIPLE, model_type_of

log = logging.getLogger(__name__)

MAX_VALUES = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def pad_to_multiple(images, multiple=SIZE_MULTIPLE):
    """Edge-pads [N, H, W, C] at the bottom and right to multiples of `multiple`.

    Repeats the last row and column, like the release's `np.pad(..., 'edge')`. Graph-safe.
    """
    for axis in (1, 2):
        size = tf.shape(images)[axis]
        padded = (size + multiple - 1) // multiple * multiple
        images = tf.gather(images, tf.minimum(tf.range(padded), size - 1), axis=axis)
    return images


def restore_batch(model, images, model_type):
    """Deblurs a float batch of any size: [N, H, W, C] in [0, 1] → [N, H, W, C] in [0, 1].

    color models take C = 3. gray and lstm models take any C and deblur each channel as its own
    1-channel image (channels moved to the batch axis and back), as the release did for RGB.
    Returns the finest level, cropped back to H × W and clipped to [0, 1]. Graph-safe: used by
    `deblur` and by the SavedModel export.
    """
    shape = tf.shape(images)
    x = pad_to_multiple(images)
    if model_type != "color":
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, tf.shape(x)[1], tf.shape(x)[2], 1])
    finest = tf.cast(model(x, training=False)[-1], tf.float32)
    if model_type != "color":
        finest = tf.transpose(
            tf.reshape(finest, [shape[0], shape[3], tf.shape(finest)[1], tf.shape(finest)[2]]),
            [0, 2, 3, 1])
    return tf.clip_by_value(finest[:, :shape[1], :shape[2], :], 0.0, 1.0)


_compiled = weakref.WeakKeyDictionary()


def _compiled_restore(model):
    """One `tf.function` per model; it traces once per padded input shape."""
    if model not in _compiled:
        model_type = model_type_of(model)
        _compiled[model] = tf.function(lambda images: restore_batch(model, images, model_type))
    return _compiled[model]


def to_rgb_float(image):
    """Checks an image array and scales it to float32 [H, W, C] in [0, 1].

    Accepts uint8 or uint16, H×W, H×W×1, H×W×3 or H×W×4 (alpha is dropped, with a warning).
    Returns (float image with C = 1 or 3, the input's dtype). Raises ValueError otherwise.
    """
    image = np.asarray(image)
    if image.dtype not in MAX_VALUES:
        raise ValueError(f"expected a uint8 or uint16 image, got dtype {image.dtype}; convert "
                         "float images with e.g. (img * 255).astype(np.uint8)")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 image with H, W ≥ 1, got "
                         f"shape {image.shape}")
    if image.shape[2] == 4:
        log.warning("dropping the alpha channel of an RGBA image; the result is RGB")
        image = image[:, :, :3]
    return image.astype(np.float32) / MAX_VALUES[image.dtype], image.dtype


def from_float(image, dtype):
    """[..] float in [0, 1] → `dtype` (uint8/uint16) the release's way: × max value, truncate."""
    return (np.clip(image, 0.0, 1.0) * MAX_VALUES[np.dtype(dtype)]).astype(dtype)


def deblur(model, image):
    """Deblurs one image of any size ≥ 1×1 with a model from `build_srn`.

    Args:
      model: keras.Model from `build_srn` (or loaded with `srn_tf.load_model`).
      image: uint8 or uint16 array, H×W (grayscale), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA: alpha is
        dropped). A grayscale image given to a color model is replicated to RGB and the result
        averaged back to one channel.
    Returns:
      The deblurred image: same dtype, and the same shape as `image` (RGBA input gives H×W×3).
    """
    original = np.asarray(image)
    x, dtype = to_rgb_float(original)
    gray_into_color = x.shape[2] == 1 and model_type_of(model) == "color"
    if gray_into_color:
        x = np.repeat(x, 3, axis=2)
    height, width = x.shape[:2]
    # Padding here, not only in the graph, so that the function traces once per padded shape.
    x = np.pad(x, ((0, -height % SIZE_MULTIPLE), (0, -width % SIZE_MULTIPLE), (0, 0)), mode="edge")
    y = _compiled_restore(model)(tf.constant(x[None]))[0, :height, :width].numpy()
    if gray_into_color:
        y = y.mean(axis=2, keepdims=True)
    y = from_float(y, dtype)
    return y[:, :, 0] if original.ndim == 2 else y
