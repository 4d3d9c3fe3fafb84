import numpy as np

from srn_tf import classical, embedded, metrics


def test_wiener_and_richardson_lucy_beat_the_blur_with_the_true_kernel():
    sharp = embedded.load_photo("coffee")[100:228, 200:360]
    rng = np.random.default_rng(3)
    example = embedded.synthesize(sharp, rng)
    blur = example["blur"]
    before = metrics.psnr(sharp, blur)
    for method in classical.METHODS:
        restored = classical.deconvolve(method, blur, example["kernel"])
        assert restored.shape == sharp.shape and restored.dtype == np.uint8
        assert metrics.psnr(sharp, restored) > before + 1.0, method


def test_assumed_psf_is_normalised():
    psf = classical.assumed_psf()
    assert abs(psf.sum() - 1) < 1e-12 and psf.shape[0] % 2 == 1
