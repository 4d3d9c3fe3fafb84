"""Custom Keras layers of SRN-DeblurNet, each exactly as the 2018 TF1 release computed it.

All layers take and return float tensors in NHWC layout. They use TensorFlow ops directly, so the
package needs Keras' TensorFlow backend (the default when `tensorflow` is installed).
"""

import keras
import tensorflow as tf

_PACKAGE = "srn_tf"


def legacy_resize(images, size):
    """Bilinear resize as TF 1.x `tf.image.resize_images(method=0)` did it.

    Args:
      images: float tensor [N, H, W, C].
      size: int tensor or pair (height, width).
    Returns:
      float32 tensor [N, height, width, C]: `align_corners=False`, no half-pixel centres. TF 2's
      `tf.image.resize` uses half-pixel centres and gives different numbers; the release's weights
      were trained with this one.
    """
    # The op behind tf.compat.v1.image.resize_bilinear, without its deprecation notice.
    return tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False,
                                     half_pixel_centers=False)


def spatial_size(images):
    """The (height, width) of an NHWC tensor as an int32 tensor [2] (dynamic)."""
    return tf.shape(images)[1:3]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleResize(keras.layers.Layer):
    """Resizes images by `scale` with the release's bilinear resize.

    Input [N, H, W, C] → [N, round(H·scale), round(W·scale), C], float32.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, images):
        size = tf.cast(tf.round(tf.cast(spatial_size(images), tf.float32) * self.scale), tf.int32)
        return legacy_resize(images, size)

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
        return tf.stop_gradient(inputs)


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
            state_shape = tf.concat([tf.shape(x)[:-1], [2 * self.filters]], axis=0)
            state = tf.zeros(state_shape, dtype=x.dtype)
        else:
            state = tf.cast(legacy_resize(state, spatial_size(x)), x.dtype)
        c, h = tf.split(state, 2, axis=-1)
        z = self.conv(tf.concat([x, h], axis=-1))
        i, j, f, o = tf.split(z, 4, axis=-1)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, tf.concat([new_c, new_h], axis=-1)

    def compute_output_shape(self, x_shape, state_shape=None):
        return tuple(x_shape), tuple(x_shape[:-1]) + (2 * self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "forget_bias": self.forget_bias}
