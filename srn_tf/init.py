"""Initialisations of a freshly built SRN generator: the release's, and two that start near or at
the identity. Architecture and parameter counts are unchanged by every one of them.

* "xavier": the release's (Glorot-uniform kernels, zero biases; ConvLSTM kernel truncated normal
  σ 1e-3), exactly what `build_srn` creates.
* "zero_residual": the second conv of every ResBlock zeroed ("zero γ", Goyal et al. 2017, §5.1),
  so each block starts as the identity; the network as a whole does not.
* "identity": the untrained network returns its blurry input exactly at all three levels, and
  every trainable variable receives a non-zero gradient on the first step (`identity_init`).
"""

import numpy as np

from srn_tf.layers import ConvLSTMCell, ResBlock
from srn_tf.model import MODEL_TYPES, image_channels, model_type_of

INITS = ("xavier", "zero_residual", "identity")
# Full-resolution feature channels 0…3 carry the image in "identity": the C blurry channels, then
# 4 − C channels that start at zero. The rest of every layer is twin pairs (see `identity_init`).
IDENTITY_CHANNELS = 4
# dec1_0's twin read-out starts at this fraction of its Xavier values. Adam moves every weight with
# a non-zero gradient by about the learning rate on its first steps, whatever the gradient's size;
# a small read-out keeps the output's first moves small (at 1, 4 steps at 2e-4 cost 6 dB).
READOUT_SCALE = 0.01


def zero_init_residual(model):
    """Zeroes the second conv of every ResBlock, so that each block starts as the identity.

    Not in the release, which initialises every conv with Xavier; the architecture is unchanged.
    From Xavier, SRN's unnormalised residual blocks and its level-to-level recurrence send the
    first outputs to about ±10 (first loss ~100), and a short run spends its first few hundred
    steps undoing that. With identity blocks ("zero γ", Goyal et al. 2017, §5.1) the network
    starts as a shallow conv net of its input and passes the image through within ~100 steps.
    Returns the number of blocks changed (18 in SRN, 0 in the baselines).
    """
    blocks = [layer for layer in model.layers if isinstance(layer, ResBlock)]
    for block in blocks:
        block.conv2.kernel.assign(np.zeros(block.conv2.kernel.shape))
        block.conv2.bias.assign(np.zeros(block.conv2.bias.shape))
    return len(blocks)


def _twin(kernel, in_shared, out_shared):
    """A conv kernel [kh, kw, in, out] rewritten as two independent twin copies.

    Input and output channels are laid out as `shared` channels first, then interleaved pairs
    (A at even offsets, B at odd). Output twin B_k gets exactly A_k's weights on the shared and
    the matching B inputs; every weight between the A and the B half is zero. Given inputs whose
    A and B channels are equal, the A and B outputs are then equal too. Output columns
    0…out_shared − 1 are left as they are (each caller sets them). Returns a new array.
    """
    k = np.array(kernel, dtype=np.float32)
    a_in, b_in = slice(in_shared, None, 2), slice(in_shared + 1, None, 2)
    a_out, b_out = slice(out_shared, None, 2), slice(out_shared + 1, None, 2)
    k[..., b_in, a_out] = 0.0
    k[..., a_in, b_out] = 0.0
    k[..., :in_shared, b_out] = k[..., :in_shared, a_out]
    k[..., b_in, b_out] = k[..., a_in, a_out]
    return k


def _twin_layer(conv, in_shared, out_shared, transposed=False):
    """Applies `_twin` to a Keras conv layer's kernel (Conv2DTranspose keeps [kh, kw, out, in])
    and bias; output channels 0…out_shared − 1 are zeroed (kernel and bias). Returns the kernel."""
    kernel = conv.kernel.numpy()
    if transposed:
        kernel = kernel.transpose(0, 1, 3, 2)
    kernel = _twin(kernel, in_shared, out_shared)
    kernel[..., :out_shared] = 0.0
    bias = conv.bias.numpy()
    bias[out_shared + 1::2] = bias[out_shared::2]
    bias[:out_shared] = 0.0
    conv.kernel.assign(kernel.transpose(0, 1, 3, 2) if transposed else kernel)
    conv.bias.assign(bias)
    return kernel


def identity_init(model):
    """Makes an SRN generator (color, gray or lstm) start as the identity at all three levels.

    On top of its Xavier init (not in the release; the architecture is unchanged):
      * enc1_1's centre tap copies the C blurry channels into its channels 0…C−1; its channels
        C…3 start at zero. No ResBlock (conv2), no transposed conv (dec1_4) writes into
        channels 0…3, so they reach dec1_0 holding exactly the blurry image, and dec1_0's centre
        tap copies them out (weight 1, bias 0).
      * Every other channel of every layer, the ConvLSTM's hidden units and gates included, is one
        of a twin pair: the two halves of the network are identical copies (weights between them
        zero) fed by the same input, and dec1_0's centre tap reads the A copy with weights w
        (`READOUT_SCALE` × Xavier) and the B copy with −w (its other taps start at zero). The two cancel (to float rounding,
        about 1e-7: the copies are bit-identical, the sum's rounding is not), while each
        copy's weights receive ordinary, non-zero gradients (+g and −g) from the first step. This
        is the "doubling trick" of Chizat, Oyallon and Bach, "On Lazy Training in
        Differentiable Programming", NeurIPS 2019, §2 (an initial output of zero without dead
        weights), applied to the network's deviation from its input.
    Why not zeroed convs: a zero conv2 gives its block's conv1 a zero gradient, and a zero dec1_4
    kernel gives everything below it (two thirds of the network) a zero gradient, until those
    weights have moved; zero biases under ReLUs can leave units dead for good.

    Args:
      model: from `build_srn` (any dtype policy), weights as built (Xavier).
    Returns:
      the model, changed in place. Its outputs equal ScaleResize(blurry) at each level within
      ~1e-6 in float32 (under mixed_bfloat16 the image passes through bfloat16 features: within
      one bfloat16 rounding, ≤ 2⁻⁹ relative).
    Raises:
      ValueError: for a model that is not an SRN generator (the baselines have no identity init).
    """
    kind = model_type_of(model)
    if kind not in MODEL_TYPES:
        raise ValueError(f"identity init needs an SRN model ({MODEL_TYPES}), got {kind!r}")
    channels = image_channels(kind)
    shared = IDENTITY_CHANNELS
    layer = model.get_layer

    enc1_1 = layer("enc1_1")
    kernel = _twin_layer(enc1_1, enc1_1.kernel.shape[2], shared)
    centre = enc1_1.kernel.shape[0] // 2
    for c in range(channels):
        kernel[centre, centre, c, c] = 1.0
    enc1_1.kernel.assign(kernel)

    full_resolution = ("enc1_2", "enc1_3", "enc1_4", "dec1_3", "dec1_2", "dec1_1")
    for block in (l for l in model.layers if isinstance(l, ResBlock)):
        outer = shared if block.name in full_resolution else 0
        _twin_layer(block.conv1, outer, 0)
        _twin_layer(block.conv2, 0, outer)
    _twin_layer(layer("enc2_1"), shared, 0)
    _twin_layer(layer("enc3_1"), 0, 0)
    _twin_layer(layer("dec2_4"), 0, 0, transposed=True)
    _twin_layer(layer("dec1_4"), 0, shared, transposed=True)
    lstm = [l for l in model.layers if isinstance(l, ConvLSTMCell)]
    if lstm:   # input concat([x, h]) and gates [i, j, f, o]: 128 interleaved units each, even
        _twin_layer(lstm[0].conv, 0, 0)

    dec1_0 = layer("dec1_0")
    xavier = dec1_0.kernel.numpy()
    kernel = np.zeros_like(xavier)   # only centre taps: fewer ±w terms, less rounding (≤ 1e-7)
    readout = READOUT_SCALE * xavier[centre, centre, shared::2, :]
    kernel[centre, centre, shared::2, :] = readout
    kernel[centre, centre, shared + 1::2, :] = -readout
    for c in range(channels):
        kernel[centre, centre, c, c] = 1.0
    dec1_0.kernel.assign(kernel)
    dec1_0.bias.assign(np.zeros(dec1_0.bias.shape, np.float32))
    return model


def apply_init(model, name):
    """Applies the initialisation `name` (one of INITS) to a freshly built model, in place.

    Raises ValueError for an unknown name, or "identity" on a baseline model.
    """
    if name == "zero_residual":
        zero_init_residual(model)
    elif name == "identity":
        identity_init(model)
    elif name != "xavier":
        raise ValueError(f"init must be one of {INITS}, got {name!r}")
    return model
