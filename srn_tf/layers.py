"""Custom Keras layers of SRN-DeblurNet, each exactly as the 2018 TF1 release computed it.

All layers take and return float tensors in NHWC layout and are written with `keras.ops`, so the
model runs on every Keras backend (TensorFlow, JAX, PyTorch). The one exception is the release's
resize on the TensorFlow backend, which stays TensorFlow's own op (`legacy_resize`).
"""

import keras
import numpy as np
from keras import ops

_PACKAGE = "srn_tf"


def legacy_resize(images, size):
    """Bilinear resize as TF 1.x `tf.image.resize_images(method=0)` did it.

    Args:
      images: float tensor [N, H, W, C] of the running backend.
      size: (height, width): Python ints, or on the TensorFlow backend int scalar tensors too
        (dynamic shapes).
    Returns:
      float32 tensor [N, height, width, C]: `align_corners=False`, no half-pixel centres (the
      source pixel of output pixel i is i·in/out). TF 2's `tf.image.resize` and PyTorch's
      `interpolate` use half-pixel centres and give different numbers; the release's weights were
      trained with this one. On the TensorFlow backend this is TensorFlow's op
      (`ResizeBilinear(half_pixel_centers=False)`, the op of `tf.compat.v1.image.resize_bilinear`,
      which the ONNX export maps to `Resize` "asymmetric"); on the others `resize_with_ops`.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False,
                                         half_pixel_centers=False)
    return resize_with_ops(images, size)


def _source_pixels(in_size, out_size):
    """(lower, upper, fraction) of the source pixels of `out_size` output pixels along one axis:
    TensorFlow's CPU kernel's sums in float32 (scale = in/out, source = i·scale, lower =
    floor(source), upper = min(ceil(source), in − 1), fraction = source − lower)."""
    scale = np.float32(in_size) / np.float32(out_size)
    source = np.arange(out_size, dtype=np.float32) * scale
    lower = np.floor(source)
    upper = np.minimum(np.ceil(source), in_size - 1)
    return lower.astype(np.int32), upper.astype(np.int32), (source - lower).astype(np.float32)


def resize_with_ops(images, size):
    """`legacy_resize` in `keras.ops` (any backend, static sizes): gathers and linear
    interpolation, along the width first, then the height, in float32, with TensorFlow's
    kernel's source pixels and operation order (top + (bottom − top)·dy of rows interpolated as
    left + (right − left)·dx), so it matches `tf.raw_ops.ResizeBilinear(half_pixel_centers=False)`
    within float rounding (tested on many sizes, up and down, odd ones included).

    images: float tensor [N, H, W, C]; size: (height, width), Python ints ≥ 1.
    Returns float32 [N, height, width, C].
    """
    images = ops.cast(images, "float32")
    in_height, in_width = ops.shape(images)[1:3]
    left, right, dx = _source_pixels(int(in_width), int(size[1]))
    rows = ops.take(images, left, axis=2)
    rows = rows + (ops.take(images, right, axis=2) - rows) * ops.convert_to_tensor(dx[:, None])
    top, bottom, dy = _source_pixels(int(in_height), int(size[0]))
    top_rows = ops.take(rows, top, axis=1)
    dy = ops.convert_to_tensor(dy[:, None, None])
    return top_rows + (ops.take(rows, bottom, axis=1) - top_rows) * dy


def spatial_size(images):
    """The (height, width) of an NHWC tensor: Python ints where the shape is known, int scalar
    tensors for the TensorFlow backend's dynamic dimensions."""
    return tuple(ops.shape(images)[1:3])


def _scaled(size, scale):
    """round(size · scale), half to even (Python's `round` and `tf.round` alike)."""
    if isinstance(size, int):
        return round(size * scale)
    return ops.cast(ops.round(ops.cast(size, "float32") * scale), "int32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleResize(keras.layers.Layer):
    """Resizes images by `scale` with the release's bilinear resize.

    Input [N, H, W, C] → [N, round(H·scale), round(W·scale), C], float32.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, images):
        return legacy_resize(images, tuple(_scaled(n, self.scale) for n in spatial_size(images)))

    def compute_output_shape(self, input_shape):
        def scaled(n):
            return None if n is None else round(n * self.scale)
        return (input_shape[0], scaled(input_shape[1]), scaled(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResizeLike(keras.layers.Layer):
    """Resizes `images` to the height and width of `reference` (release's bilinear resize).

    Inputs: images [N, h, w, C], reference [N, H, W, *] → float32 [N, H, W, C].
    """

    def call(self, images, reference):
        return legacy_resize(images, spatial_size(reference))

    def compute_output_shape(self, images_shape, reference_shape):
        return (images_shape[0], reference_shape[1], reference_shape[2], images_shape[3])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StopGradient(keras.layers.Layer):
    """Identity in the forward pass; blocks gradients (the release's `tf.stop_gradient`)."""

    def call(self, inputs):
        return ops.stop_gradient(inputs)


def _conv(filters, kernel_size, activation, name, **kwargs):
    """A 'SAME' conv with the release's initialisation: Glorot-uniform kernel, zero bias.

    Pass dtype=<the parent layer's dtype_policy> so that sub-layers follow their parent."""
    return keras.layers.Conv2D(
        filters, kernel_size, padding="same", activation=activation,
        kernel_initializer="glorot_uniform", bias_initializer="zeros", name=name, **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResBlock(keras.layers.Layer):
    """x + conv2(relu(conv1(x))): both convs `kernel_size`², 'SAME', `filters` channels.

    conv2 is linear and nothing follows the sum, as in the release. Input and output [N, H, W, filters].
    Sub-layers are named `conv1` and `conv2`, like the release's variable scopes.
    """

    def __init__(self, filters, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.conv1 = _conv(self.filters, self.kernel_size, "relu", "conv1", dtype=self.dtype_policy)
        self.conv2 = _conv(self.filters, self.kernel_size, None, "conv2", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, inputs):
        return inputs + self.conv2(self.conv1(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvLSTMCell(keras.layers.Layer):
    """One step of the release's convolutional LSTM (its `BasicConvLSTMCell`).

    call(x, state=None) → (h', state'):
      x      [N, h, w, filters] input features (the bottleneck, enc3_4's output);
      state  [N, h0, w0, 2·filters] = concat([c, h]) from the previous level, or None for zeros.
             It is first resized (release's bilinear) to x's height and width.
      z = conv_{k×k}(concat([x, h])) with bias, split into i, j, f, o (that order);
      c' = c·σ(f + forget_bias) + σ(i)·tanh(j);  h' = tanh(c')·σ(o);  state' = concat([c', h']).
    The conv sub-layer is named `LSTM_conv` like the release's scope. Kernel: truncated normal,
    stddev 1e-3; bias zero.
    """

    def __init__(self, filters=128, kernel_size=3, forget_bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.forget_bias = float(forget_bias)
        self.conv = keras.layers.Conv2D(
            4 * self.filters, self.kernel_size, padding="same",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=1e-3),
            bias_initializer="zeros", name="LSTM_conv", dtype=self.dtype_policy)

    def build(self, x_shape, state_shape=None):
        self.conv.build(tuple(x_shape[:-1]) + (2 * self.filters,))

    def call(self, x, state=None):
        if state is None:
            state = ops.zeros(tuple(ops.shape(x)[:-1]) + (2 * self.filters,), dtype=x.dtype)
        else:
            state = ops.cast(legacy_resize(state, spatial_size(x)), x.dtype)
        c, h = ops.split(state, 2, axis=-1)
        z = self.conv(ops.concatenate([x, h], axis=-1))
        i, j, f, o = ops.split(z, 4, axis=-1)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * ops.tanh(j)
        new_h = ops.tanh(new_c) * ops.sigmoid(o)
        return new_h, ops.concatenate([new_c, new_h], axis=-1)

    def compute_output_shape(self, x_shape, state_shape=None):
        return tuple(x_shape), tuple(x_shape[:-1]) + (2 * self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "forget_bias": self.forget_bias}
