"""Flicker measured (Lai et al.'s warping error) and the consistent mode (issue 23)."""

import numpy as np
import pytest
import skimage.data

from srn_tf import metrics, temporal


@pytest.fixture(scope="module")
def panned():
    """Six 96×128 frames of a real photo panned by 3 whole pixels a frame (the true flow from
    frame t to t−1 is (−3, 0) everywhere the content was in view)."""
    photo = skimage.data.astronaut()
    return [np.ascontiguousarray(photo[180:276, 150 + 3 * t:278 + 3 * t]) for t in range(6)]


def test_warping_error_is_zero_for_a_shift_where_the_flow_is_exact(panned, monkeypatch):
    calls = []

    def exact(self, a, b):   # pixel x of frame t shows what frame t−1 shows at x + 3
        calls.append(None)
        flow = np.zeros(a.shape + (2,), np.float32)
        flow[..., 0] = 3.0 if len(calls) % 2 else -3.0   # F_{t→t−1} first, then F_{t−1→t}
        return flow
    monkeypatch.setattr(temporal.FlowEstimator, "flow", exact)
    assert temporal.warping_error(panned, panned) == 0.0
    flickering = [np.clip(f.astype(int) + 8 * (k % 2), 0, 255).astype(np.uint8)
                  for k, f in enumerate(panned)]
    # every visible pixel of every channel is 8 grey levels off its warped predecessor
    assert temporal.warping_error(panned, flickering) == pytest.approx((8 / 255) ** 2, rel=1e-3)


def test_warping_error_with_dis_flow_on_a_real_photo(panned):
    steady = temporal.warping_error(panned, panned)
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8) for f in panned]
    assert steady < 5e-5                      # DIS finds the whole-pixel pan
    assert temporal.warping_error(panned, noisy) > 10 * steady
    assert np.isnan(temporal.warping_error(panned[:1], panned[:1]))   # one frame: no pair


def test_occluded_and_outside_pixels_are_not_counted():
    height, width = 8, 10
    backward = np.zeros((height, width, 2), np.float32)
    forward = np.zeros((height, width, 2), np.float32)
    backward[:, -2:, 0] = 5.0           # these land outside frame t−1
    backward[2, 3] = (1.0, 0.0)         # the forward flow does not bring it back: occluded
    mask = temporal.visible(backward, forward)
    assert not mask[:, -2:].any() and not mask[2, 3]
    assert mask.sum() == height * width - 2 * height - 1


def test_consistent_filter_steadies_a_noisy_pan_and_helps_its_psnr(panned):
    rng = np.random.default_rng(1)
    noisy = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in panned]
    steady = temporal.ConsistentFilter(0.5)
    filtered = [steady.filter(i, o) for i, o in zip(panned, noisy)]
    assert np.array_equal(filtered[0], noisy[0])      # nothing before the first frame
    assert temporal.warping_error(panned, filtered) < 0.5 * temporal.warping_error(panned, noisy)
    gain = np.mean([metrics.psnr(s, f) - metrics.psnr(s, n)
                    for s, f, n in zip(panned[1:], filtered[1:], noisy[1:])])
    assert gain > 1.0                                 # against the clean frames, the truth
    off = temporal.ConsistentFilter(0.0)
    assert all(np.array_equal(off.filter(i, o), o) for i, o in zip(panned, noisy))


def test_a_scene_cut_starts_afresh(panned):
    other = skimage.data.coffee()[:96, :128]
    frames = panned[:3] + [other, other]
    outputs = [np.clip(f.astype(int) + 5, 0, 255).astype(np.uint8) for f in frames]
    steady = temporal.ConsistentFilter(0.5)
    filtered = [steady.filter(i, o) for i, o in zip(frames, outputs)]
    assert steady.cuts == 1
    assert np.array_equal(filtered[3], outputs[3])    # the first frame after the cut as it was
    steady.reset()
    assert np.array_equal(steady.filter(frames[0], outputs[0]), outputs[0])


def test_alpha_and_bit_depth_pass_through(panned):
    rgba = [np.concatenate([f.astype(np.uint16) * 257,
                            np.full(f.shape[:2] + (1,), 1234, np.uint16)], axis=2) for f in panned]
    steady = temporal.ConsistentFilter(0.5)
    filtered = [steady.filter(f, f) for f in rgba]
    assert all(o.dtype == np.uint16 and o.shape == f.shape for o, f in zip(filtered, rgba))
    assert all((o[:, :, 3] == 1234).all() for o in filtered)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        steady.filter(panned[0], panned[0].astype(np.float32))
