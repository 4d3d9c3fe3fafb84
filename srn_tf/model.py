"""The SRN-DeblurNet generator as a Keras functional model, exactly as the 2018 release built it.

Three levels, coarsest first, one set of weights shared by all three. Layer names follow the
release's variable scopes (`enc1_1`, …, `dec1_0`, `convLSTM`), so `g_net/<layer>/weights` in an
original checkpoint is `<layer>/kernel` here.
"""

import keras

from srn_tf.layers import ConvLSTMCell, ResBlock, ResizeLike, ScaleResize, StopGradient

MODEL_TYPES = ("color", "gray", "lstm")
NUM_LEVELS = 3
LEVEL_SCALE = 0.5
SIZE_MULTIPLE = 16   # H and W must be multiples of this (two stride-2 convs below a ×0.25 level)
KERNEL_SIZE = 5

# Trainable parameters of each type, as counted on the release's checkpoints.
PARAM_COUNTS = {"color": 6_881_251, "gray": 6_876_449, "lstm": 8_056_609}


def image_channels(model_type):
    """Channels of the images a model type takes and returns: 3 for color, 1 for gray and lstm."""
    check_model_type(model_type)
    return 3 if model_type == "color" else 1


def check_model_type(model_type):
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")


def level_scales():
    """Resize factors of the three levels, coarsest first: (0.25, 0.5, 1.0)."""
    return tuple(LEVEL_SCALE ** (NUM_LEVELS - 1 - i) for i in range(NUM_LEVELS))


def _conv(filters, name, activation="relu", strides=1):
    return keras.layers.Conv2D(filters, KERNEL_SIZE, strides=strides, padding="same",
                               activation=activation, kernel_initializer="glorot_uniform",
                               bias_initializer="zeros", name=name)


def _deconv(filters, name):
    return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu",
                                        kernel_initializer="glorot_uniform",
                                        bias_initializer="zeros", name=name)


def _resblocks(filters, names):
    return [ResBlock(filters, KERNEL_SIZE, name=name) for name in names]


class _SharedLevel:
    """The layers of one level, created once and called at every level (weight sharing)."""

    def __init__(self, channels, use_lstm):
        self.encoder1 = [_conv(32, "enc1_1")] + _resblocks(32, ["enc1_2", "enc1_3", "enc1_4"])
        self.encoder2 = [_conv(64, "enc2_1", strides=2)] + _resblocks(64, ["enc2_2", "enc2_3", "enc2_4"])
        self.encoder3 = [_conv(128, "enc3_1", strides=2)] + _resblocks(128, ["enc3_2", "enc3_3", "enc3_4"])
        self.lstm = ConvLSTMCell(128, 3, name="convLSTM") if use_lstm else None
        self.decoder3 = _resblocks(128, ["dec3_3", "dec3_2", "dec3_1"])
        self.upsample2 = _deconv(64, "dec2_4")
        self.decoder2 = _resblocks(64, ["dec2_3", "dec2_2", "dec2_1"])
        self.upsample1 = _deconv(32, "dec1_4")
        self.decoder1 = _resblocks(32, ["dec1_3", "dec1_2", "dec1_1"])
        self.output = _conv(channels, "dec1_0", activation=None)

    def __call__(self, x, state, level):
        def chain(layers, t):
            for layer in layers:
                t = layer(t)
            return t

        e1 = chain(self.encoder1, x)
        e2 = chain(self.encoder2, e1)
        e3 = chain(self.encoder3, e2)
        if self.lstm is not None:
            e3, state = self.lstm(e3) if state is None else self.lstm(e3, state)
        d3 = chain(self.decoder3, e3)
        d2 = chain(self.decoder2, keras.layers.Add(name=f"level{level}_skip2")([self.upsample2(d3), e2]))
        d1 = chain(self.decoder1, keras.layers.Add(name=f"level{level}_skip1")([self.upsample1(d2), e1]))
        return self.output(d1), state


def build_srn(model_type="color"):
    """Builds the SRN generator.

    Args:
      model_type: "color" (RGB in/out), "gray" (1 channel) or "lstm" (1 channel, ConvLSTM
        bottleneck: the paper's network and the release's best weights).
    Returns:
      keras.Model named `srn_<type>`. Input: float32 [N, H, W, C] in [0, 1], H and W any multiples
      of 16 (dynamic). Outputs: list of three float32 tensors, the level outputs at (H/4, W/4),
      (H/2, W/2) and (H, W), coarsest first, linear (not clipped).
    """
    channels = image_channels(model_type)
    blurry = keras.Input(shape=(None, None, channels), name="blurry")
    level = _SharedLevel(channels, use_lstm=model_type == "lstm")
    outputs, previous, state = [], blurry, None
    for i, scale in enumerate(level_scales()):
        blurry_i = ScaleResize(scale, name=f"level{i}_blurry")(blurry)
        previous_i = ResizeLike(name=f"level{i}_previous")(
            StopGradient(name=f"level{i}_stop_gradient")(previous), blurry_i)
        x = keras.layers.Concatenate(axis=-1, name=f"level{i}_input")([blurry_i, previous_i])
        previous, state = level(x, state, i)
        outputs.append(previous)
    return keras.Model(blurry, outputs, name=f"srn_{model_type}")


def model_type_of(model):
    """Tells the type ("color", "gray", "lstm") of a model made by `build_srn`, from its structure."""
    names = {layer.name for layer in model.layers}
    if "convLSTM" in names:
        return "lstm"
    return "color" if model.input_shape[-1] == 3 else "gray"
