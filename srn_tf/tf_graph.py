"""The release's test path as TensorFlow graphs: the SavedModel export's in-graph tiling, and the
compiled per-tile function `srn_tf.deblur` runs on the TensorFlow backend.

TensorFlow backend only (Keras tensors are TensorFlow tensors there): `restore_tiled` blends
overlapping tiles inside one graph (a while loop), which is what the SavedModel's serving
signature runs (`restore_integer_batch`); `compiled_restore` is the `tf.function`, traced once for
any size, that `srn_tf.deblur` calls per tile, built on the same while loop so that both give
bit-identical results; `finest_function` is the graph the ONNX conversion takes
(`srn_tf.runtimes`, `srn_tf.export`). The ops inside are `srn_tf.restore`'s and
`srn_tf.tiling`'s, written once with `keras.ops`.
"""

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.model import SIZE_MULTIPLE, image_channels, model_type_of
from srn_tf.restore import (compiled_for, finest_level, from_unit_range, inference_model,
                            restore_batch, to_unit_range)
from srn_tf.tiling import tile_weights

tf = lazy_tensorflow("TensorFlow graphs of the test path")

def restore_tiled(model, images, model_type, tile_size, overlap):
    """`restore_batch` over overlapping tiles, blended seam-free; memory bounded by the tile.

    Args:
      images: float32 [N, H, W, C] in [0, 1], any size.
      tile_size: int32 [2] (height, width) of the tiles, multiples of 16; a tile no smaller than
        the image (e.g. [0, 0] → the whole image) means one tile, and then the result is exactly
        `restore_batch`'s.
      overlap: pixels shared by neighbouring tiles (int scalar).
    Returns float32 [N, H, W, C] in [0, 1]. Graph-safe (a while loop over the tiles).
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    whole = (height + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE, \
        (width + SIZE_MULTIPLE - 1) // SIZE_MULTIPLE * SIZE_MULTIPLE
    tile_h = tf.where(tile_size[0] > 0, tf.minimum(tile_size[0], whole[0]), whole[0])
    tile_w = tf.where(tile_size[1] > 0, tf.minimum(tile_size[1], whole[1]), whole[1])
    starts_y, weights_y = tile_weights(whole[0], tile_h, overlap)   # over the padded extent
    starts_x, weights_x = tile_weights(whole[1], tile_w, overlap)
    count_x = tf.size(starts_x)

    def body(index, result):
        i, j = index // count_x, index % count_x
        y0, x0 = starts_y[i], starts_x[j]
        y1, x1 = tf.minimum(y0 + tile_h, height), tf.minimum(x0 + tile_w, width)
        restored = restore_batch(model, images[:, y0:y1, x0:x1, :], model_type)
        weight = weights_y[i, y0:y1][:, None] * weights_x[j, x0:x1][None, :]
        begin, end = tf.stack([0, y0, x0, 0]), tf.stack([shape[0], y1, x1, shape[3]])
        update = result[:, y0:y1, x0:x1, :] + restored * weight[None, :, :, None]
        return index + 1, tf.raw_ops.TensorStridedSliceUpdate(
            input=result, begin=begin, end=end, strides=[1, 1, 1, 1], value=update)

    def more_tiles(index, result):
        return index < tf.size(starts_y) * count_x

    _, result = tf.while_loop(more_tiles, body, [tf.constant(0), tf.zeros_like(images)])
    return result


def restore_integer_batch(model, images, model_type, tile_size=(0, 0), overlap=0):
    """`restore_tiled` for uint8 or uint16 images, converted the release's way, in the graph.

    [N, H, W, C] integers → float in [0, 1] (÷ max value) → finest level clipped to [0, 1] →
    × max value, truncated to the input's dtype. The SavedModel's serving signature is this too.
    """
    restored = restore_tiled(model, to_unit_range(images), model_type,
                             tf.convert_to_tensor(tile_size, tf.int32),
                             tf.convert_to_tensor(overlap, tf.int32))
    return from_unit_range(restored, images.dtype)


def compiled_restore(model, dtype=np.uint8, precision="float32", jit_compile=False):
    """`restore_batch` of `model` for integer images, as a graph f(images) → restored.

    images: uint8/uint16 [N, h, w, C] (one tile) → float32 [N, h, w, C] in [0, 1] (÷ the dtype's
    max value, then the network, as `restore_integer_batch` computes each tile).
    Traced once per (model, dtype, precision, jit_compile): N, h and w are dynamic, so every tile
    and image reuses one graph, as the export's does (with static shapes oneDNN may pick other
    kernels, which would move results by a grey level here and there).
    """
    functions = compiled_for(model)
    key = (tf.as_dtype(dtype), precision, bool(jit_compile))
    if key not in functions:
        net = inference_model(model, precision)
        model_type = model_type_of(model)

        def forward(x, training=False):
            return net(x, training=training)
        if jit_compile:   # XLA needs static shapes: compile the network, once per tile shape
            forward = tf.function(forward, jit_compile=True, reduce_retracing=True,
                                  autograph=False)
        def restore(images):
            # The whole tile as restore_tiled's one tile, in its while loop: the same ops and
            # results as restore_batch, and a lower peak (measured with benchmarks/inference.py:
            # 1,264 against 1,380 MiB at 1280x720 for the bare graph, and 1,375 MiB for
            # restore_batch alone in a one-pass while loop; TensorFlow 2.21, CPU).
            return restore_tiled(forward, to_unit_range(images), model_type,
                                 tf.zeros([2], tf.int32), tf.constant(0))

        functions[key] = tf.function(restore, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None, None], key[0])])
    return functions[key]


def finest_function(model):
    """`finest_level` of `model` as a tf.function, the network the other runtimes run.

    images: float32 [N, H, W, C] in [0, 1], any N, H, W (C = 3 for color models, any C for
    gray and lstm) → float32 [N, H, W, C], the finest level before clipping.
    """
    model_type = model_type_of(model)
    channels = 3 if image_channels(model_type) == 3 else None
    return tf.function(lambda images: finest_level(model, images, model_type), autograph=False,
                       input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32,
                                                      name="images")])


def tile_function(model, dtype, precision="float32", jit_compile=False):
    """`compiled_restore` for numpy tiles: f(uint array [N, h, w, C]) → a new float32 array
    [N, h, w, C] in [0, 1] (what `srn_tf.tiling.blend_tiles` runs per tile)."""
    restore = compiled_restore(model, dtype, precision, jit_compile)
    return lambda tile: restore(tf.constant(tile)).numpy()
