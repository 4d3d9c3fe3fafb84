"""Multiply-accumulate count of the SRN network, from the layer table of the 2018 release."""

from srn_tf.model import KERNEL_SIZE, image_channels, level_scales


def level_macs(height, width, model_type="color"):
    """Multiply-accumulates of one level at height × width (multiples of 4), by layer group."""
    channels = image_channels(model_type)
    k2 = KERNEL_SIZE ** 2
    full, half, quarter = height * width, height * width // 4, height * width // 16
    resblocks = 3 * 2 * k2           # three ResBlocks of two convs per stage
    counts = {
        "enc1_1": full * k2 * 2 * channels * 32,
        "enc1 resblocks": full * resblocks * 32 * 32,
        "enc2_1": half * k2 * 32 * 64,
        "enc2 resblocks": half * resblocks * 64 * 64,
        "enc3_1": quarter * k2 * 64 * 128,
        "enc3 resblocks": quarter * resblocks * 128 * 128,
        "dec3 resblocks": quarter * resblocks * 128 * 128,
        "dec2_4 (deconv 4x4)": quarter * 16 * 128 * 64,
        "dec2 resblocks": half * resblocks * 64 * 64,
        "dec1_4 (deconv 4x4)": half * 16 * 64 * 32,
        "dec1 resblocks": full * resblocks * 32 * 32,
        "dec1_0": full * k2 * 32 * channels,
    }
    if model_type == "lstm":
        counts["convLSTM"] = quarter * 9 * 256 * 512
    return counts


def network_macs(height, width, model_type="color"):
    """Multiply-accumulates of the three levels for one H × W image (H, W multiples of 16)."""
    return sum(sum(level_macs(round(height * s), round(width * s), model_type).values())
               for s in level_scales())
