import numpy as np
from scipy.ndimage import correlate

from srn_tf import metrics


def matlab_style_ssim(a, b):
    """Wang et al.'s SSIM as MATLAB's ssim() computes it, re-stated here independently:
    11×11 Gaussian window σ=1.5 (normalised), 'valid' region, K1=0.01, K2=0.03, L=255."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    x = np.arange(11) - 5
    g = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def filt(img):
        return correlate(img, window, mode="constant")[5:-5, 5:-5]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2) /
                ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    return ssim_map.mean()


def test_psnr_and_ssim_on_known_pairs():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    noisy = np.clip(sharp + rng.normal(0, 8, sharp.shape), 0, 255).astype(np.uint8)
    mse = np.mean((sharp.astype(float) - noisy) ** 2)
    assert abs(metrics.psnr(sharp, noisy) - 10 * np.log10(255 ** 2 / mse)) < 1e-6
    expected = np.mean([matlab_style_ssim(sharp[..., c], noisy[..., c]) for c in range(3)])
    assert abs(metrics.ssim(sharp, noisy) - expected) < 1e-6
    assert abs(metrics.ssim(sharp[..., 0], noisy[..., 0]) -
               matlab_style_ssim(sharp[..., 0], noisy[..., 0])) < 1e-6


def test_identical_images_score_the_100_db_cap():
    image = np.full((16, 16, 3), 100, np.uint8)
    assert metrics.psnr(image, image) == 100.0
    assert metrics.ssim(image, image) == 1.0
