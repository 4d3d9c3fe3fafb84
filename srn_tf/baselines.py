"""Single-scale baselines that SRN is compared with, trainable with the same train.py.

* `cnn`: a three-stage network in the manner of SRCNN (Dong et al. 2014) at full resolution:
  9×9×64 feature extraction, 5×5×32 non-linear mapping, 5×5×3 reconstruction (69,251 parameters).
* `autoencoder`: a convolutional encoder–decoder with additive skip connections: 3×3 convs at
  32, 64 (stride 2) and 128 (stride 2) channels, 4×4 transposed convs back up (451,811 parameters).

Both take and return RGB float32 [N, H, W, 3] (H, W multiples of 4) and return a one-element list,
the finest level, so the multi-scale loss and the inference code treat them like SRN.
"""

import keras

BASELINE_TYPES = ("cnn", "autoencoder")
PARAM_COUNTS = {"cnn": 69_251, "autoencoder": 451_811}


def _conv(filters, size, name, policy, activation="relu", strides=1):
    return keras.layers.Conv2D(filters, size, strides=strides, padding="same",
                               activation=activation, name=name, dtype=policy)


def build_cnn(policy):
    blurry = keras.Input(shape=(None, None, 3), name="blurry")
    x = _conv(64, 9, "extract", policy)(blurry)
    x = _conv(32, 5, "map", policy)(x)
    out = _conv(3, 5, "reconstruct", "float32" if policy != "float32" else policy,
                activation=None)(x)
    return keras.Model(blurry, [out], name="baseline_cnn")


def build_autoencoder(policy):
    blurry = keras.Input(shape=(None, None, 3), name="blurry")
    e1 = _conv(32, 3, "enc1", policy)(blurry)
    e2 = _conv(64, 3, "enc2", policy, strides=2)(e1)
    e3 = _conv(128, 3, "enc3", policy, strides=2)(e2)
    e3 = _conv(128, 3, "bottleneck", policy)(e3)
    d2 = keras.layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu",
                                      name="up2", dtype=policy)(e3)
    d2 = _conv(64, 3, "dec2", policy)(keras.layers.Add(name="skip2", dtype=policy)([d2, e2]))
    d1 = keras.layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu",
                                      name="up1", dtype=policy)(d2)
    d1 = _conv(32, 3, "dec1", policy)(keras.layers.Add(name="skip1", dtype=policy)([d1, e1]))
    out = _conv(3, 3, "reconstruct", "float32" if policy != "float32" else policy,
                activation=None)(d1)
    return keras.Model(blurry, [out], name="baseline_autoencoder")


def build_baseline(model_type, dtype_policy=None):
    """A baseline model of `model_type` ("cnn" or "autoencoder")."""
    policy = dtype_policy or keras.mixed_precision.global_policy().name
    builders = {"cnn": build_cnn, "autoencoder": build_autoencoder}
    return builders[model_type](policy if isinstance(policy, str) else policy.name)
