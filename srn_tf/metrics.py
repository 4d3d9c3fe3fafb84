"""PSNR and SSIM on uint8 images, as the release's MATLAB `psnr()` / `ssim()` figures were made.

Both come from scikit-image (float64): PSNR over the whole image with peak 255; SSIM of Wang et al.
with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, population covariance, computed per
channel and averaged.
"""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def psnr(reference, image):
    """PSNR in dB of uint8 `image` against `reference` (same shape); inf when they are equal."""
    reference, image = np.asarray(reference), np.asarray(image)
    if np.array_equal(reference, image):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, image, data_range=255))


def ssim(reference, image):
    """SSIM (Wang et al. 2004, MATLAB's settings) of uint8 images H×W or H×W×C, in [−1, 1]."""
    reference, image = np.asarray(reference), np.asarray(image)
    return float(structural_similarity(
        reference, image, data_range=255, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, K1=0.01, K2=0.03,
        channel_axis=2 if reference.ndim == 3 else None))
