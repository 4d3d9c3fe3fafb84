"""The SRN-DeblurNet generator as a Keras functional model, exactly as the 2018 release built it.

Three levels, coarsest first, one set of weights shared by all three. Layer names follow the
release's variable scopes (`enc1_1`, …, `dec1_0`, `convLSTM`), so `g_net/<layer>/weights` in an
original checkpoint is `<layer>/kernel` here.
"""

import keras

from srn_tf.layers import ConvLSTMCell, ResBlock, ResizeLike, ScaleResize, StopGradient

MODEL_TYPES = ("color", "gray", "lstm")
BASELINE_TYPES = ("cnn", "autoencoder")          # srn_tf/baselines.py: trainable comparisons
TRAINABLE_TYPES = MODEL_TYPES + BASELINE_TYPES
NUM_LEVELS = 3
LEVEL_SCALE = 0.5
SIZE_MULTIPLE = 16   # H and W must be multiples of this (two stride-2 convs below a ×0.25 level)
KERNEL_SIZE = 5
LSTM_FILTERS = 128   # the ConvLSTM's hidden channels; its state concat([c, h]) has twice as many

# Trainable parameters of each type, as counted on the release's checkpoints.
PARAM_COUNTS = {"color": 6_881_251, "gray": 6_876_449, "lstm": 8_056_609}


def image_channels(model_type):
    """Channels of the images a model type takes and returns: 1 for gray and lstm, else 3."""
    if model_type not in TRAINABLE_TYPES:
        raise ValueError(f"model_type must be one of {TRAINABLE_TYPES}, got {model_type!r}")
    return 1 if model_type in ("gray", "lstm") else 3


def check_model_type(model_type):
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")


def level_scales():
    """Resize factors of the three levels, coarsest first: (0.25, 0.5, 1.0)."""
    return tuple(LEVEL_SCALE ** (NUM_LEVELS - 1 - i) for i in range(NUM_LEVELS))


class _SharedLevel:
    """The layers of one level, created once and called at every level (weight sharing).

    `policy` is the Keras dtype policy of the convolutions; under a mixed policy the ConvLSTM
    (its state) and the output conv stay float32.
    """

    def __init__(self, channels, use_lstm, policy):
        exact = "float32" if policy.compute_dtype != policy.variable_dtype else policy

        def conv(filters, name, activation="relu", strides=1, dtype=policy):
            return keras.layers.Conv2D(filters, KERNEL_SIZE, strides=strides, padding="same",
                                       activation=activation, kernel_initializer="glorot_uniform",
                                       bias_initializer="zeros", name=name, dtype=dtype)

        def deconv(filters, name):
            return keras.layers.Conv2DTranspose(
                filters, 4, strides=2, padding="same", activation="relu",
                kernel_initializer="glorot_uniform", bias_initializer="zeros", name=name,
                dtype=policy)

        def resblocks(filters, names):
            return [ResBlock(filters, KERNEL_SIZE, name=name, dtype=policy) for name in names]

        self.policy = policy
        self.encoder1 = [conv(32, "enc1_1")] + resblocks(32, ["enc1_2", "enc1_3", "enc1_4"])
        self.encoder2 = [conv(64, "enc2_1", strides=2)] + resblocks(64, ["enc2_2", "enc2_3", "enc2_4"])
        self.encoder3 = [conv(128, "enc3_1", strides=2)] + resblocks(128, ["enc3_2", "enc3_3", "enc3_4"])
        self.lstm = ConvLSTMCell(LSTM_FILTERS, 3, name="convLSTM", dtype=exact) if use_lstm else None
        self.decoder3 = resblocks(128, ["dec3_3", "dec3_2", "dec3_1"])
        self.upsample2 = deconv(64, "dec2_4")
        self.decoder2 = resblocks(64, ["dec2_3", "dec2_2", "dec2_1"])
        self.upsample1 = deconv(32, "dec1_4")
        self.decoder1 = resblocks(32, ["dec1_3", "dec1_2", "dec1_1"])
        self.output = conv(channels, "dec1_0", activation=None, dtype=exact)

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
        add2 = keras.layers.Add(name=f"level{level}_skip2", dtype=self.policy)
        d2 = chain(self.decoder2, add2([self.upsample2(d3), e2]))
        add1 = keras.layers.Add(name=f"level{level}_skip1", dtype=self.policy)
        d1 = chain(self.decoder1, add1([self.upsample1(d2), e1]))
        return self.output(d1), state


def build_srn(model_type="color", dtype_policy=None, state_io=False):
    """Builds the SRN generator.

    Args:
      model_type: "color" (RGB in/out), "gray" (1 channel) or "lstm" (1 channel, ConvLSTM
        bottleneck: the paper's network and the release's best weights).
      dtype_policy: Keras dtype policy of the convolutions, e.g. "mixed_bfloat16"; default: the
        global policy. Under a mixed policy the ConvLSTM and the output conv stay float32.
      state_io: lstm only, not in the release: the ConvLSTM state enters and leaves the model, so
        that it can be carried from one video frame to the next (`srn_tf.video`). The model then
        takes a second input `initial_state` float32 [N, h, w, 256] (concat([c, h]), any h and w:
        it is resized to the coarsest level's bottleneck; zeros = the release's behaviour) and
        returns the finest level's final state [N, H/4, W/4, 256] as a fourth output. Same
        layers and weights as without it.
    Returns:
      keras.Model named `srn_<type>`. Input: float32 [N, H, W, C] in [0, 1], H and W any multiples
      of 16 (dynamic). Outputs: list of three float32 tensors, the level outputs at (H/4, W/4),
      (H/2, W/2) and (H, W), coarsest first, linear (not clipped).
    """
    channels = image_channels(model_type)
    if state_io and model_type != "lstm":
        raise ValueError(f"state_io needs the lstm model type, got {model_type!r}")
    blurry = keras.Input(shape=(None, None, channels), name="blurry")
    policy = keras.dtype_policies.get(dtype_policy or keras.mixed_precision.global_policy())
    level = _SharedLevel(channels, use_lstm=model_type == "lstm", policy=policy)
    outputs, previous, state = [], blurry, None
    if state_io:
        initial_state = keras.Input(shape=(None, None, 2 * LSTM_FILTERS), name="initial_state")
        state = initial_state
    for i, scale in enumerate(level_scales()):
        blurry_i = ScaleResize(scale, name=f"level{i}_blurry")(blurry)
        previous_i = ResizeLike(name=f"level{i}_previous")(
            StopGradient(name=f"level{i}_stop_gradient")(previous), blurry_i)
        x = keras.layers.Concatenate(axis=-1, name=f"level{i}_input")([blurry_i, previous_i])
        previous, state = level(x, state, i)
        outputs.append(previous)
    if state_io:
        return keras.Model([blurry, initial_state], outputs + [state], name="srn_lstm_state_io")
    return keras.Model(blurry, outputs, name=f"srn_{model_type}")


def as_levels(outputs):
    """A model's outputs as a list of levels (a one-output Keras model returns a bare tensor)."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def build_model(model_type, dtype_policy=None):
    """`build_srn` for SRN types, `srn_tf.baselines.build_baseline` for "cnn" / "autoencoder"."""
    if model_type in BASELINE_TYPES:
        from srn_tf.baselines import build_baseline
        return build_baseline(model_type, dtype_policy)
    return build_srn(model_type, dtype_policy)


def rebuild(model, dtype_policy="float32", state_io=False):
    """A new model of `model`'s type holding its weights, under `dtype_policy` (see `build_srn`)
    and, for lstm, with `state_io`. Built under the float32 global policy, so the layers that take
    no policy (resizes, concatenations, inputs) stay float32 whatever the caller's policy is."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        kind = model_type_of(model)
        copy = (build_srn(kind, dtype_policy, state_io=True) if state_io
                else build_model(kind, dtype_policy))
        copy.set_weights(model.get_weights())
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return copy


def model_type_of(model):
    """The type of a model from `build_model`: "color", "gray", "lstm", "cnn" or "autoencoder"."""
    if model.name.startswith("baseline_"):
        return model.name[len("baseline_"):]
    names = {layer.name for layer in model.layers}
    if "convLSTM" in names:
        return "lstm"
    return "color" if model.input_shape[-1] == 3 else "gray"
