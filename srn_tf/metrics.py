"""PSNR and SSIM, as the release's MATLAB `psnr()` / `ssim()` figures were made, for every input.

Both come from scikit-image (float64) on the images as stored, uint8 or uint16 (8- or 16-bit
files): PSNR over the whole image with the dtype's peak (255, or 65535 for 16-bit images); SSIM of
Wang et al. with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, population covariance,
computed per channel and averaged. Grey (H×W or H×W×1) and colour images alike.

Conventions where the formulas break down:
  * PSNR is capped at `PSNR_CAP` = 100 dB: identical images (MSE 0, PSNR infinite) score 100 dB,
    so every image stays in a mean and a perfect result never lowers one;
  * SSIM is not defined for images smaller than its 11×11 window: `ssim` returns None, and a mean
    covers only the images where it is defined (`mean` says how many);
  * images of different shapes or dtypes raise ValueError.
"""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0          # dB
SSIM_WINDOW = 11          # pixels: the Gaussian window's side (σ 1.5, truncated at 3.5 σ)


def peak(image):
    """The peak value of an integer image's dtype: 255 (uint8) or 65535 (uint16)."""
    dtype = np.asarray(image).dtype
    if dtype not in (np.uint8, np.uint16):
        raise ValueError(f"metrics take uint8 or uint16 images, got dtype {dtype}")
    return int(np.iinfo(dtype).max)


def _check_pair(reference, image):
    reference, image = np.asarray(reference), np.asarray(image)
    if reference.shape != image.shape or reference.dtype != image.dtype:
        raise ValueError(f"images differ: reference {reference.shape} {reference.dtype}, image "
                         f"{image.shape} {image.dtype}")
    return reference, image, peak(reference)


def psnr(reference, image):
    """PSNR in dB of `image` against `reference`: same shape, both uint8 or both uint16.

    10·log10(peak² / MSE) over every pixel and channel, peak 255 or 65535 by dtype, capped at
    `PSNR_CAP` (100 dB; identical images score the cap). Raises ValueError for a shape or dtype
    mismatch.
    """
    reference, image, top = _check_pair(reference, image)
    if np.array_equal(reference, image):
        return PSNR_CAP
    return min(PSNR_CAP, float(peak_signal_noise_ratio(reference, image, data_range=top)))


def ssim(reference, image):
    """SSIM (Wang et al. 2004, MATLAB's settings) of uint8 or uint16 images H×W or H×W×C, in
    [−1, 1]; None (not defined) when a side is smaller than the 11×11 window. Raises ValueError
    for a shape or dtype mismatch."""
    reference, image, top = _check_pair(reference, image)
    if min(reference.shape[:2]) < SSIM_WINDOW:
        return None
    return float(structural_similarity(
        reference, image, data_range=top, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, K1=0.01, K2=0.03,
        channel_axis=2 if reference.ndim == 3 else None))


def mean(values):
    """(mean of the defined values or None, how many values it covers); None values are left
    out. The one way every mean of PSNR/SSIM in this project is taken."""
    defined = [float(v) for v in values if v is not None]
    return (float(np.mean(defined)) if defined else None), len(defined)
