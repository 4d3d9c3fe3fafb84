"""Classical non-blind deconvolution (scikit-image's Wiener and Richardson–Lucy) as baselines.

Both need the blur kernel (PSF): the true one where the data records it (the embedded dataset
saves each image's `kernel/NNNNNN.npy`), else one the user gives, else an assumed Gaussian.
"""

import numpy as np
from skimage import restoration

METHODS = ("wiener", "richardson_lucy")
# Chosen on the embedded dataset's train split (true kernels; mean PSNR gain over the blurry
# input): Wiener balance 0.005 / 0.02 / 0.1 / 0.4 → +0.59 / +1.51 / +2.03 / +1.74 dB;
# Richardson–Lucy 10 / 15 / 20 / 30 iterations → +2.65 / +2.79 / +2.70 / +2.30 dB.
WIENER_BALANCE = 0.1          # noise-to-signal regularisation of skimage's wiener
RL_ITERATIONS = 15


def assumed_psf(sigma=1.5):
    """A normalised Gaussian PSF, for data whose kernels are unknown (a guess, not an estimate)."""
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1)
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    psf = np.outer(g, g)
    return psf / psf.sum()


def deconvolve(method, image, psf):
    """Deblurs a uint8 H×W×3 image with `psf` (2-D, sums to 1) → uint8 H×W×3.

    Each channel is deconvolved separately after reflect-padding by the PSF's size (so the
    circular FFT of Wiener does not wrap the borders); values are clipped to [0, 1] and rounded.
    """
    pad = max(psf.shape)
    x = np.pad(image.astype(np.float64) / 255.0, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    channels = []
    for c in range(x.shape[2]):
        if method == "wiener":
            channels.append(restoration.wiener(x[:, :, c], psf, WIENER_BALANCE, clip=False))
        elif method == "richardson_lucy":
            channels.append(restoration.richardson_lucy(x[:, :, c], psf, num_iter=RL_ITERATIONS,
                                                        clip=False))
        else:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    out = np.stack(channels, axis=-1)[pad:-pad, pad:-pad]
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
