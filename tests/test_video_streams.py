"""A video comes back as the same video: timing (BH-03), other streams (BH-05), output checked first.

The network is replaced by the identity (a counting stand-in for `frame_restorer`), so these tests
look at the video plumbing only; test_video.py runs the real network.
"""

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from srn_tf import video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args):
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def streams(path):
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    return [line.split(": ", 2)[1].split(":")[0] for line in text.splitlines()
            if line.strip().startswith("Stream #")]


@pytest.fixture
def identity(monkeypatch):
    """frame_restorer → the identity; returns the list of frames it was given."""
    seen = []

    def restorer(model, temporal_state=False, **options):
        def restore(frames):
            seen.extend(frames)
            return frames
        return restore
    monkeypatch.setattr(video, "frame_restorer", restorer)
    return seen


def decoded(path, rate):
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-r", str(rate)])
    meta = next(reader)
    width, height = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])


def test_variable_frame_rate_keeps_duration_and_timing(tmp_path, identity):
    # BH-03's timing on 64×48 frames: 20 frames, the first 10 0.1 s apart, the next 10 0.5 s
    # apart (ffmpeg: "4.17 fps, 10 tbr"). Before, the result lasted 2.8× too long (56 frames
    # encoded at 4.17 fps).
    source = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "20",
           "-vf", "setpts='if(lt(N,10),N*0.1,1.0+(N-10)*0.5)/TB'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-video_track_timescale", "1000",
           str(source))
    frames_in, seconds_in = imageio_ffmpeg.count_frames_and_secs(str(source))
    assert frames_in == 20
    out = tmp_path / "out.mp4"
    result = video.deblur_video(None, str(source), str(out), batch_size=3)
    frames_out, seconds_out = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert seconds_out == pytest.approx(seconds_in, abs=0.11)
    assert len(identity) == 20                   # each source frame deblurred once
    assert (result.frames, result.deblurred, float(result.rate)) == (frames_out, 20, 10.0)
    # each frame shown at its time: the output's frames at 10 fps are the input's at 10 fps
    expected, got = decoded(source, 10), decoded(out, 10)
    assert len(got) == len(expected)
    errors = np.abs(got.astype(int) - expected.astype(int)).mean(axis=(1, 2, 3))
    assert errors.max() < 6, errors


def test_audio_and_metadata_are_kept(tmp_path, identity):
    # BH-05 in small: a 0.5 s clip with an AAC track and a title.
    source = tmp_path / "with_audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=22050", "-t", "0.5", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-metadata", "title=holiday", "-shortest",
           str(source))
    out = tmp_path / "out.mp4"
    result = video.deblur_video(None, str(source), str(out))
    assert streams(out) == ["Video", "Audio"] == streams(source)
    assert result.streams_copied == 1 and result.frames == 5
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(out)], capture_output=True,
                          text=True).stderr
    assert "holiday" in text


@pytest.mark.parametrize("name, message", [
    ("out.webm", "cannot write .*out.webm .*nothing was deblurred.*Opus audio.*\\.mkv"),
    ("out.txt", "not a video file name"),
    ("in.mp4", "refusing to overwrite the input video"),
])
def test_output_is_checked_before_the_first_frame(tmp_path, identity, name, message):
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=440", "-t", "0.3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(source))
    with pytest.raises(video.VideoError, match=message):
        video.deblur_video(None, str(source), str(tmp_path / name))
    assert identity == []                        # nothing deblurred for nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]   # and nothing left behind


def _cut(source, fraction, target):
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])


@pytest.fixture
def clip(tmp_path):
    """30 frames of 64×48 at 10 fps (3 s), index at the front so a cut file still opens."""
    source = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "30",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(source))
    return source


def test_truncated_video_is_reported_not_passed_off_as_complete(tmp_path, identity, clip):
    # F1: cut to 80 % of its bytes, ffmpeg decodes 13 of the 30 frames and stops without an
    # error; before, deblur wrote a 1.3 s video and exited 0.
    cut = tmp_path / "cut.mp4"
    _cut(clip, 0.8, cut)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(cut))
    assert 0 < frames < 30
    out = tmp_path / "out.mp4"
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(cut), str(out))
    message = str(raised.value)
    assert "\n" not in message
    assert f"ends early: {frames} frames of 30" in message and "cut.mp4" in message
    assert "of 3.00 s" in message and str(out) in message
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == frames   # the partial result
    # an existing output is not replaced by a partial one
    out.write_bytes(b"keep")
    with pytest.raises(video.VideoError, match="nothing was written"):
        video.deblur_video(None, str(cut), str(out))
    assert out.read_bytes() == b"keep"
    # the whole file passes
    assert video.deblur_video(None, str(clip), str(tmp_path / "whole.mp4")).frames == 30


def test_undecodable_video_is_one_short_line(tmp_path, identity, clip):
    # F4: cut to 30 % ffmpeg finds the stream but decodes nothing; before, the message carried
    # ~5 KB of ffmpeg's log (now only in the INFO log, shown with --verbose).
    cut = tmp_path / "cut.mp4"
    _cut(clip, 0.3, cut)
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(cut), str(tmp_path / "out.mp4"))
    message = str(raised.value)
    assert message == f"cannot read video {cut}: truncated or not a video ffmpeg can decode"
