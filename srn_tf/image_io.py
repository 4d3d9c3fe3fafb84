"""Reading and writing image files: 8- and 16-bit PNG, JPEG, BMP, GIF; atomic writes."""

import os
import tempfile

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class ImageReadError(ValueError):
    """An image file that is missing, unreadable or corrupt (the message names it)."""


def _is_16bit_png(data):
    # PNG signature (8 bytes), IHDR length + type (8), width, height (8), then bit depth.
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] == 16


def read_image(path):
    """Reads an image file → uint8 (or uint16 for 16-bit PNGs) array H×W×C, C in {1, 3, 4}.

    Raises ImageReadError naming the file when it is missing, not an image, or corrupt.
    """
    try:
        data = tf.io.read_file(os.fspath(path))
        if _is_16bit_png(data.numpy()):
            image = tf.io.decode_png(data, dtype=tf.uint16)
        else:
            image = tf.io.decode_image(data, expand_animations=False)
        return image.numpy()
    except (tf.errors.OpError, ValueError) as e:
        message = getattr(e, "message", str(e))
        raise ImageReadError(f"cannot read image {path}: {message}") from e


def write_png(path, image):
    """Writes a uint8/uint16 image (H×W or H×W×C) as PNG atomically.

    The bytes go to a temporary file in the same folder, renamed into place when complete, so a
    reader never sees a half-written PNG.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    encoded = tf.io.encode_png(image).numpy()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def list_images(folder):
    """Image files (by extension) directly in `folder`, sorted by name."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))
