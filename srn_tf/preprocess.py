"""The per-example ops of the training and evaluation pipelines: decode, crop, augment, convert.

Each works eagerly and inside tf.data (tested both ways). Images are decoded by
`srn_tf.image_io` (the one decoder of every command), reduced to 8-bit RGB.
"""

import numpy as np

from srn_tf.backend import lazy_tensorflow
from srn_tf.image_io import decode_rgb8

tf = lazy_tensorflow("reading pairs through tf.data (training data, TFDS, --data=tfds:…)")

def decode_file(path):
    """Reads and decodes one still image file → uint8 [H, W, 3], eagerly or inside tf.data.

    The pixels are `srn_tf.image_io.decode_rgb8`'s (through tf.numpy_function): the one decoder
    deblur and evaluate use too, reduced to 8-bit RGB (grey repeated, alpha dropped, 16-bit v ↦
    round(v / 257)). A file it cannot decode raises an error naming it.
    """
    path = tf.convert_to_tensor(path, tf.string)
    def decode(data, name):   # bytes in tf.data, 0-d object arrays eagerly
        return decode_rgb8(np.asarray(data).item(), np.asarray(name).item().decode())
    image = tf.numpy_function(decode, [tf.io.read_file(path), path], tf.uint8, stateful=False)
    return tf.ensure_shape(image, [None, None, 3])


def decode_pair(blur_path, sharp_path):
    """Reads and decodes two image files → (blur, sharp) uint8 [H, W, 3] (`decode_file`)."""
    return decode_file(blur_path), decode_file(sharp_path)


def to_model_input(image, channels):
    """uint8 [..., H, W, 3] → float32 in [0, 1] with `channels` 3 (RGB) or 1 (the release's
    `tf.image.rgb_to_grayscale`)."""
    image = tf.cast(image, tf.float32) / 255.0
    return image if channels == 3 else tf.image.rgb_to_grayscale(image)


def random_crop_pair(blur, sharp, size, seed):
    """The same random `size`² window of both [H, W, C] images; `seed` a [2] int tensor.

    One offset is drawn and both images are sliced there (no copy of the full images).
    """
    height, width = tf.shape(blur)[0], tf.shape(blur)[1]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform([], seeds[0], 0, height - size + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[1], 0, width - size + 1, dtype=tf.int32)
    window = [size, size, None]
    return (tf.ensure_shape(blur[top:top + size, left:left + size], window),
            tf.ensure_shape(sharp[top:top + size, left:left + size], window))


def augment_pair(blur, sharp, seed):
    """The same random flip (left-right, up-down) and 90° rotation applied to both images."""
    stacked = tf.concat([blur, sharp], axis=-1)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    stacked = tf.image.stateless_random_flip_left_right(stacked, seeds[0])
    stacked = tf.image.stateless_random_flip_up_down(stacked, seeds[1])
    turns = tf.random.stateless_uniform([], seeds[2], 0, 4, dtype=tf.int32)
    stacked = tf.image.rot90(stacked, turns)
    return tf.split(stacked, 2, axis=-1)
