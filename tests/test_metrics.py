import numpy as np
import pytest
from scipy.ndimage import correlate

from srn_tf import metrics


def matlab_style_ssim(a, b, peak=255):
    """Wang et al.'s SSIM as MATLAB's ssim() computes it, re-stated here independently:
    11×11 Gaussian window σ=1.5 (normalised), 'valid' region, K1=0.01, K2=0.03, L=peak."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    x = np.arange(11) - 5
    g = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def filt(img):
        return correlate(img, window, mode="constant")[5:-5, 5:-5]
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
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


def numpy_psnr(a, b, peak):
    return 10 * np.log10(peak ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def test_16_bit_pairs_use_peak_65535():
    """BH-01 / NC 2: the case's 16-bit gradient and its noisy copy score ≈ 42.19 dB, not −6."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:96]
    sharp = np.stack([x * 600, y * 900, (x + y) * 300], axis=-1).astype(np.uint16)
    blur = np.clip(sharp.astype(np.int64) + rng.normal(0, 512, sharp.shape).round(), 0,
                   65535).astype(np.uint16)
    assert metrics.psnr(sharp, blur) == pytest.approx(numpy_psnr(sharp, blur, 65535), abs=1e-9)
    assert metrics.psnr(sharp, blur) == pytest.approx(42.19, abs=0.01)
    expected = np.mean([matlab_style_ssim(sharp[..., c], blur[..., c], 65535) for c in range(3)])
    assert metrics.ssim(sharp, blur) == pytest.approx(expected, abs=1e-6)


def test_grey_pairs_h_w_1():
    rng = np.random.default_rng(1)
    sharp = rng.integers(0, 256, (30, 20, 1), dtype=np.uint8)
    blur = np.clip(sharp + rng.normal(0, 6, sharp.shape), 0, 255).astype(np.uint8)
    assert metrics.psnr(sharp, blur) == pytest.approx(numpy_psnr(sharp, blur, 255), abs=1e-9)
    assert metrics.ssim(sharp, blur) == pytest.approx(
        matlab_style_ssim(sharp[..., 0], blur[..., 0]), abs=1e-6)


def test_images_smaller_than_the_ssim_window():
    """NC 5: a 7×5 pair has a PSNR and no SSIM (not defined below 11×11), no traceback."""
    rng = np.random.default_rng(0)
    img = (rng.random((5, 7, 3)) * 255).astype(np.uint8)
    assert metrics.ssim(img, img[:, :, ::-1].copy()) is None
    assert metrics.psnr(img, img[:, :, ::-1]) == pytest.approx(
        numpy_psnr(img, img[:, :, ::-1], 255), abs=1e-9)
    assert metrics.ssim(img[:, :1], img[:, :1]) is None


def test_mismatched_pairs_are_refused():
    with pytest.raises(ValueError, match="differ"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="differ"):
        metrics.ssim(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint16))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        metrics.psnr(np.zeros((4, 4)), np.ones((4, 4)))


def test_infinite_psnr_is_capped_so_rankings_hold():
    """BH-09: a method exact on a black frame must not rank below one that is off by one level."""
    black = np.zeros((64, 96, 3), np.uint8)
    off = black.copy()
    off[0, 0, 0] = 1
    assert metrics.psnr(black, black) == 100.0
    assert metrics.psnr(black, off) == pytest.approx(numpy_psnr(black, off, 255), abs=1e-9)
    assert metrics.psnr(black, off) == pytest.approx(90.79, abs=0.01)
    scene = 30.19
    exact, _ = metrics.mean([metrics.psnr(black, black), scene])
    offby1, _ = metrics.mean([metrics.psnr(black, off), scene])
    assert exact == pytest.approx((100 + scene) / 2) and exact > offby1


def test_mean_says_how_many_values_it_covers():
    assert metrics.mean([0.5, None, 0.7]) == (pytest.approx(0.6), 2)
    assert metrics.mean([None]) == (None, 0)
