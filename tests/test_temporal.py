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


def _noisy_pan(panned, seed=2):
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in panned]


def test_the_consistent_mode_on_a_video_keeps_its_timing_and_audio(tmp_path, panned,
                                                                   video_identity):
    """`deblur_video(..., consistency=0.5)` on a 6-frame clip with an AAC track: the frames,
    rate and audio come back, the result flickers less than the input (the network stands
    aside: the identity), and the warping error is measured on the way."""
    import subprocess
    import imageio_ffmpeg
    from srn_tf import video
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    frames = _noisy_pan(panned)
    source, out = tmp_path / "pan.mkv", tmp_path / "steady.mkv"
    encode = subprocess.Popen(
        [ffmpeg, "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "128x96",
         "-r", "6", "-i", "-", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050",
         "-t", "1", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "aac", "-shortest", str(source)],
        stdin=subprocess.PIPE)
    encode.communicate(b"".join(f.tobytes() for f in frames))
    assert encode.returncode == 0
    flicker = temporal.WarpingError()
    result = video.deblur_video(None, str(source), str(out), batch_size=4, consistency=0.5,
                                warping_error=flicker)
    assert result.frames == 6 and result.streams_copied == 1
    text = subprocess.run([ffmpeg, "-hide_banner", "-i", str(out)], capture_output=True,
                          text=True).stderr
    assert "Audio: aac" in text and "6 fps" in text
    before, after = flicker.values
    assert flicker.pairs == 5 and after < 0.6 * before


def test_memory_stays_flat_along_a_clip(panned):
    """The consistent mode and the warping error hold one previous frame: the peak of a
    40-frame clip is that of a 5-frame one (numpy's allocations, traced)."""
    import tracemalloc
    frames = _noisy_pan(panned * 7)

    def peak(count):
        steady, flicker = temporal.ConsistentFilter(0.5), temporal.WarpingError()
        tracemalloc.start()
        for frame in frames[:count]:
            flicker.add(frame, frame, steady.filter(frame, frame))
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top
    assert peak(40) < 1.2 * peak(5)


def test_warping_error_does_not_count_a_pair_across_a_cut(panned):
    other = skimage.data.coffee()[:96, :128]
    flicker = temporal.WarpingError()
    for frame in panned[:3] + [other, other]:
        flicker.add(frame, frame)
    assert flicker.pairs == 3          # 2 in the pan, 1 of the identical coffee frames


def test_a_folder_of_frames_in_the_consistent_mode(tmp_path, panned, capsys):
    """srn-deblur --consistency=0.5 --warping_error on a folder of frames (name order), the
    network standing aside: steadier than the input, and the command's line says by how much."""
    from PIL import Image
    from srn_tf import deblur_lib, video
    from srn_tf.commands.deblur import _print_flicker
    from srn_tf.model import build_srn
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(_noisy_pan(panned)):
        Image.fromarray(frame).save(folder / f"{k:04d}.png")
    flicker = temporal.WarpingError()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(video, "_network_restorer", lambda *a, **k: (lambda frames: frames))
        written, skipped, _ = deblur_lib.deblur_files(build_srn("color"), str(folder),
                                                      str(tmp_path / "out"), consistency=0.5,
                                                      warping_error=flicker)
    assert len(written) == 6 and not skipped
    before, after = flicker.values
    assert after < 0.6 * before
    _print_flicker(flicker)
    line = capsys.readouterr().out.strip()
    assert line.startswith("warping error (flicker; Lai et al. 2018, lower is steadier) over 5 "
                           f"frame pairs: input {before * 1e3:.3f}e-3, result {after * 1e3:.3f}e-3")
