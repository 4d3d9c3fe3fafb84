"""The per-example ops of the training and evaluation pipelines: decode, crop, augment, convert.

Each works eagerly and inside tf.data (tested both ways). Every image decodes to
`srn_tf.image_io.decode_rgb8`'s pixels (the one decoder of every command, reduced to 8-bit RGB):
`file_decoder` takes TensorFlow's own PNG and JPEG decoders for the files where they give the same
pixels (decided per file from its header: still PNGs, RGB and grey JPEGs, not turned by EXIF),
and `decode_file` (Pillow, through tf.numpy_function) for the rest.
"""

import atexit
import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from srn_tf.backend import lazy_tensorflow
from srn_tf.image_io import decode_rgb8, tf_decoder

tf = lazy_tensorflow("reading pairs through tf.data (training data, TFDS, --data=tfds:…)")

PILLOW, PNG8, PNG16, JPEG = 0, 1, 2, 3   # the decoders of `file_decoder`, as `decoder_of` names them


class _PythonDecodes:
    """The Pillow decodes that tf.data's threads run in Python (`decode_file`), and their end at
    interpreter exit.

    Each needs the interpreter. Once it has begun to shut down, a thread that asks for it never
    gets it (CPython ends the thread), and the destructor of a pipeline's iterator, run while the
    module globals go, waits for that thread forever (NC2: a script that took three batches never
    exited). So at exit (atexit handlers run before the shutdown) decodes fail at once and the
    exit waits until none is running and none has started for QUIET seconds: the pipelines'
    buffers are then full of errors no one reads, and no thread of TensorFlow asks for the
    interpreter again. The wait is for decodes already under way (each ends) and at most LIMIT s.
    """

    QUIET, LIMIT = 0.2, 60.0

    def __init__(self):
        self._lock = threading.Lock()
        self.running = 0
        self.last = 0.0           # time.monotonic() of the latest call
        self.built = False        # True once a pipeline (or an eager call) holds such a decode
        self.closing = False
        atexit.register(self.drain)

    def __call__(self, data, name):
        # bytes in tf.data, 0-d object arrays eagerly (not numpy.asarray(bytes): its .item() drops
        # trailing NUL bytes, the end of many BMPs and TIFFs)
        data, name = (v if isinstance(v, bytes) else v.item() for v in (data, name))
        name = name.decode()
        with self._lock:
            self.last = time.monotonic()
            if self.closing:
                raise RuntimeError(f"{name} not decoded: the Python interpreter is exiting")
            self.running += 1
        try:
            return decode_rgb8(data, name)
        finally:
            with self._lock:
                self.running -= 1

    def drain(self):
        with self._lock:
            self.closing = True
            self.last = time.monotonic()
        if not self.built:
            return
        deadline = time.monotonic() + self.LIMIT
        while time.monotonic() < deadline:
            with self._lock:
                if not self.running and time.monotonic() - self.last > self.QUIET:
                    return
            time.sleep(0.02)


_python_decodes = _PythonDecodes()


def decode_file(path):
    """Reads and decodes one still image file of any kind → uint8 [H, W, 3], eagerly or inside
    tf.data: `srn_tf.image_io.decode_rgb8`'s pixels (through tf.numpy_function), the one decoder
    deblur and evaluate use too, reduced to 8-bit RGB (grey repeated, alpha dropped, 16-bit v ↦
    round(v / 257)). A file it cannot decode raises an error naming it.
    """
    path = tf.convert_to_tensor(path, tf.string)
    _python_decodes.built = True
    image = tf.numpy_function(_python_decodes, [tf.io.read_file(path), path], tf.uint8,
                              stateful=False)
    return tf.ensure_shape(image, [None, None, 3])


def _decode_png(path, depth):
    """TensorFlow's PNG decoder → uint8 [H, W, 3]; 16-bit v ↦ round(v / 257) as `to_rgb8`.
    `depth`: the file's bits per channel, 8 or 16."""
    image = tf.io.decode_png(tf.io.read_file(path), channels=3,
                             dtype=tf.uint16 if depth == 16 else tf.uint8)
    if depth == 16:
        image = tf.cast((tf.cast(image, tf.int32) + 128) // 257, tf.uint8)
    return image


def _decode_jpeg(path):
    """TensorFlow's JPEG decoder → uint8 [H, W, 3], with Pillow's accurate integer DCT."""
    return tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")


# (depths, not TensorFlow's dtypes: importing this module needs no TensorFlow)
_DECODERS = {PILLOW: decode_file, PNG8: functools.partial(_decode_png, depth=8),
             PNG16: functools.partial(_decode_png, depth=16), JPEG: _decode_jpeg}


def decoder_of(path):
    """Which decoder gives `decode_rgb8`'s pixels of the file at `path` fastest, from its header:
    PNG8, PNG16 or JPEG (TensorFlow's decoders: no Python, in parallel) for the still PNGs and
    RGB/grey JPEGs `srn_tf.image_io.tf_decoder` names, else PILLOW (`decode_file`)."""
    return {"png8": PNG8, "png16": PNG16, "jpeg": JPEG}.get(tf_decoder(path), PILLOW)


def file_decoder(paths):
    """A graph function k → uint8 [H, W, 3], the file `paths[k]` decoded to `decode_rgb8`'s pixels.

    paths: list of str. Each file's decoder (`decoder_of`) is chosen now, from the headers; only
    the decoders some file needs are in the graph, so a pipeline of plain PNGs and JPEGs never
    calls Python.
    """
    with ThreadPoolExecutor(min(8, 2 * (os.cpu_count() or 1))) as pool:
        kinds = list(pool.map(decoder_of, paths))
    used = sorted(set(kinds))
    # each file's branch: its decoder's place among those used (switch_case's keys are 0…n−1)
    paths, branches = tf.constant(paths), tf.constant([used.index(k) for k in kinds], tf.int32)

    def decode(k):
        path = tf.gather(paths, k)
        if len(used) == 1:
            return _DECODERS[used[0]](path)
        return tf.switch_case(tf.gather(branches, k),
                              [functools.partial(_DECODERS[kind], path) for kind in used])
    return decode


def decode_pair(blur_path, sharp_path):
    """Reads and decodes two image files of any kind → (blur, sharp) uint8 [H, W, 3]
    (`decode_file`)."""
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
