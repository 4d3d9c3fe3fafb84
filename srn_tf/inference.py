"""Deblurring whole images of any size with a model from `build_srn`, as the release tested.

`deblur(model, image)` pads to multiples of 16 (edge padding at the bottom and right), runs the
model as a compiled `tf.function` (traced once, for any size), keeps the finest level, clips it to
[0, 1] and converts back the way the release did (× max value, then truncate). The function is the
same graph as the SavedModel export's, so both give bit-identical results.
"""

import logging
import weakref

import numpy as np
import tensorflow as tf

from srn_tf.model import SIZE_MULTIPLE, model_type_of

log = logging.getLogger(__name__)


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


def restore_integer_batch(model, images, model_type):
    """`restore_batch` for uint8 or uint16 images, converted the release's way, in the graph.

    [N, H, W, C] integers → float in [0, 1] (÷ max value) → finest level clipped to [0, 1] →
    × max value, truncated to the input's dtype. The SavedModel's serving signature is this too.
    """
    max_value = float(images.dtype.max)
    restored = restore_batch(model, tf.cast(images, tf.float32) / max_value, model_type)
    return tf.cast(restored * max_value, images.dtype)


_compiled = weakref.WeakKeyDictionary()


def compiled_restore(model, dtype=tf.uint8):
    """`restore_integer_batch` of `model` as a graph for `dtype` images of any size.

    Traced once per model and dtype: H and W are dynamic, so images of any size reuse one graph,
    the same as the export's (with static shapes oneDNN may pick other kernels, which would move
    results by a grey level here and there).
    """
    functions = _compiled.setdefault(model, {})
    dtype = tf.as_dtype(dtype)
    if dtype not in functions:
        model_type = model_type_of(model)
        functions[dtype] = tf.function(
            lambda images: restore_integer_batch(model, images, model_type),
            input_signature=[tf.TensorSpec([None, None, None, None], dtype)])
    return functions[dtype]


def check_image(image):
    """Checks an image array; returns it as H×W×C with C = 1 or 3 (uint8 or uint16).

    Accepts uint8 or uint16, H×W, H×W×1, H×W×3 or H×W×4 (alpha is dropped, with a warning).
    Raises ValueError otherwise.
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
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
    return image


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
    x = check_image(original)
    gray_into_color = x.shape[2] == 1 and model_type_of(model) == "color"
    if gray_into_color:
        x = np.repeat(x, 3, axis=2)
    y = compiled_restore(model, x.dtype)(tf.constant(x[None]))[0].numpy()
    if gray_into_color:
        y = np.round(y.mean(axis=2, keepdims=True)).astype(x.dtype)
    return y[:, :, 0] if original.ndim == 2 else y
