"""A video comes back as the same video: timing (BH-03), other streams (BH-05), output checked
first; the container's codec (BH-19), read back before success is reported, any file name
(BH-24), any video ffmpeg reads, a folder as --output, decoder and encoder threads that stop and
fail cleanly.

The network is replaced by the identity (a counting stand-in for `frame_restorer`), so these tests
look at the video plumbing only; test_video.py and test_video_properties.py run the real network.
"""

import re
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from srn_tf import video, video_io

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args):
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def streams(path):
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    return [line.split(": ", 2)[1].split(":")[0] for line in text.splitlines()
            if line.strip().startswith("Stream #")]


def decoded(path, rate):
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-r", str(rate)])
    meta = next(reader)
    width, height = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])


def test_variable_frame_rate_keeps_duration_and_timing(tmp_path, video_identity):
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
    assert len(video_identity) == 20                   # each source frame deblurred once
    assert (result.frames, result.deblurred, float(result.rate)) == (frames_out, 20, 10.0)
    # each frame shown at its time: the output's frames at 10 fps are the input's at 10 fps
    expected, got = decoded(source, 10), decoded(out, 10)
    assert len(got) == len(expected)
    errors = np.abs(got.astype(int) - expected.astype(int)).mean(axis=(1, 2, 3))
    assert errors.max() < 6, errors


def test_audio_and_metadata_are_kept(tmp_path, video_identity):
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


def test_cover_art_is_no_video(tmp_path, video_identity):
    # A song with its cover picture is not a video; a video with one keeps it, copied.
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(cover))
    song = tmp_path / "song.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=22050:duration=0.5", "-i", str(cover),
           "-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "copy", "-disposition:v:0",
           "attached_pic", str(song))
    assert streams(song) == ["Audio", "Video"] and not video_io.is_video(str(song))
    clip = tmp_path / "clip.mp4"
    ffmpeg("-i", str(cover), "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-map", "0",
           "-map", "1", "-frames:v:1", "3", "-c:v:0", "copy", "-c:v:1", "libx264",
           "-pix_fmt:v:1", "yuv420p", "-disposition:v:0", "attached_pic", str(clip))
    assert "(attached pic)" in description(clip)
    result = video.deblur_video(None, str(clip), str(tmp_path / "out.mp4"))
    assert result.frames == 3 and len(video_identity) == 3
    assert video_identity[0].shape == (48, 64, 3)                       # the video, not the cover
    assert streams(tmp_path / "out.mp4") == ["Video", "Video"]
    assert "(attached pic)" in description(tmp_path / "out.mp4")


@pytest.mark.parametrize("name, message", [
    ("out.webm", "cannot write .*out.webm .*nothing was deblurred.*Opus audio.*\\.mkv"),
    ("out.txt", "not a video file name"),
    ("in.mp4", "refusing to overwrite the input video"),
    (".", "refusing to overwrite the input video"),   # its folder: <folder>/in.mp4
])
def test_output_is_checked_before_the_first_frame(tmp_path, video_identity, name, message):
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi",
           "-i", "sine=frequency=440", "-t", "0.3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(source))
    with pytest.raises(video.VideoError, match=message):
        video.deblur_video(None, str(source), str(tmp_path / name))
    assert video_identity == []                        # nothing deblurred for nothing
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


def test_truncated_video_is_reported_not_passed_off_as_complete(tmp_path, video_identity, clip):
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


def test_undecodable_video_is_one_short_line(tmp_path, video_identity, clip):
    # F4: cut to 30 % ffmpeg finds the stream but decodes nothing; before, the message carried
    # ~5 KB of ffmpeg's log (now only in the INFO log, shown with --verbose).
    cut = tmp_path / "cut.mp4"
    _cut(clip, 0.3, cut)
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(cut), str(tmp_path / "out.mp4"))
    message = str(raised.value)
    assert message == f"cannot read video {cut}: truncated or not a video ffmpeg can decode"


def test_webm_is_written_with_vp9_and_read_back(tmp_path, video_identity):
    # BH-19: the check passed VP9 but the writer sent H.264, so the 6-frame clip "succeeded"
    # with a 262-byte file that does not open, and the 15-frame one died of a broken pipe.
    for frames in (6, 15):
        source = tmp_path / f"clip{frames}.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", str(frames),
               "-c:v", "libx264", "-pix_fmt", "yuv420p", str(source))
        out = tmp_path / f"out{frames}.webm"
        assert video.deblur_video(None, str(source), str(out)).frames == frames
        assert streams(out) == ["Video"] and "Video: vp9" in description(out)
        assert imageio_ffmpeg.count_frames_and_secs(str(out)) == (frames, frames / 10)


def description(path):
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def test_a_result_that_does_not_read_back_is_an_error_and_not_kept(tmp_path, video_identity,
                                                                    monkeypatch):
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "5", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(source))

    class LosingEncoder(video_io.Encoder):   # an encoder that drops the last frame
        def send(self, frame):
            self.sent = getattr(self, "sent", 0) + 1
            if self.sent < 5:
                super().send(frame)
    monkeypatch.setattr(video_io, "Encoder", LosingEncoder)
    out = tmp_path / "out.mp4"
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(source), str(out))
    assert str(raised.value) == (f"the video written for {out} does not read back: ffmpeg "
                                 "reads 4 of the 5 frames written; it was not kept")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    # BH-19's 262-byte WebM: a header and nothing else
    broken = tmp_path / "broken.webm"
    broken.write_bytes(bytes.fromhex("1a45dfa3") + bytes(258))
    with pytest.raises(video.VideoError, match="broken.webm does not read back: ffmpeg reads "
                                               "0 of the 6 frames written"):
        video_io.verify(str(broken), str(broken), 6, 10)


@pytest.mark.parametrize("name", ["Talk: part 1.mp4", "-rec 12:30:05.mp4", "concat:x.mp4"])
def test_any_file_name_is_a_file_name(tmp_path, video_identity, monkeypatch, name):
    # BH-24: ffmpeg took "Talk:" for a protocol ("Protocol not found"); a leading "-" for an
    # option. Both by a relative name, as users type them.
    monkeypatch.chdir(tmp_path)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "4", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", "file:" + str(tmp_path / name))
    out = "out: " + name
    result = video.deblur_video(None, name, out)
    assert result.path == out and result.frames == 4
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / out))[0] == 4


# containers of everyday video: extension → ffmpeg muxer and codec arguments
CONTAINERS = {".m2ts": ["-f", "mpegts", "-c:v", "libx264"],
              ".3gp": ["-f", "3gp", "-c:v", "libx264"], ".wmv": ["-f", "asf", "-c:v", "wmv2"],
              ".flv": ["-f", "flv", "-c:v", "flv1"], ".mpg": ["-f", "mpeg", "-c:v", "mpeg2video"],
              ".clip": ["-f", "mp4", "-c:v", "libx264"], "": ["-f", "matroska", "-c:v", "libx264"]}


@pytest.mark.parametrize("extension, result", [(".m2ts", "in.m2ts"), (".3gp", "in.mp4"),
                                               (".wmv", "in.mkv"), (".flv", "in.mp4"),
                                               (".mpg", "in.mp4"), (".clip", "in.mp4"),
                                               ("", "in.mp4")])
def test_any_video_is_a_video_and_a_folder_takes_it(tmp_path, video_identity, extension, result):
    # Camcorder (.m2ts), phone (.3gp), Windows (.wmv, with WMA audio), Flash, DVD (.mpg) video,
    # and videos under an unknown or no extension; --output a folder, as for images: the result
    # is named after the input, in its container when that can hold it (else .mp4, else .mkv).
    source = tmp_path / f"in{extension}"
    audio = ["-f", "lavfi", "-i", "sine=sample_rate=16000", "-c:a", "wmav2", "-shortest"] \
        if extension == ".wmv" else []
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", *audio, "-frames:v", "3",
           "-pix_fmt", "yuv420p", *CONTAINERS[extension], str(source))
    assert video_io.is_video(str(source))
    written = video.deblur_video(None, str(source), str(tmp_path / "out") + "/")
    assert written.path == str(tmp_path / "out" / result) and written.frames == 3
    assert imageio_ffmpeg.count_frames_and_secs(written.path)[0] == 3
    assert written.streams_copied == (1 if extension == ".wmv" else 0)


def test_images_stay_images(tmp_path):
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "photo", format="PNG")   # a PNG without extension
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.gif")              # GIFs are images here
    (tmp_path / "notes.txt").write_text("not a video")
    for name in ("photo.png", "photo", "photo.gif", "notes.txt", "missing.mp4x", "."):
        assert not video_io.is_video(str(tmp_path / name)), name


@pytest.fixture
def long_clip(tmp_path):
    source = tmp_path / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "40", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(source))
    return source


def recorded(monkeypatch, *names):
    """Makes video_io's `names` (Decoder, Encoder) list their instances; returns the list."""
    started = []
    for name in names:
        base = getattr(video_io, name)

        def init(self, *args, _base=base, **kwargs):
            _base.__init__(self, *args, **kwargs)
            started.append(self)
        monkeypatch.setattr(video_io, name, type(name, (base,), {"__init__": init}))
    return started


def test_interrupt_stops_decoder_and_encoder_and_leaves_nothing(tmp_path, monkeypatch,
                                                                 long_clip):
    # Ctrl-C (and SIGTERM, which the commands turn into it) during the work: both ffmpeg
    # processes and threads end, nothing is left under the output name or beside it.
    started = recorded(monkeypatch, "Decoder", "Encoder")
    calls = []

    def restorer(model, temporal_state=False, **options):
        def restore(frames):
            calls.append(len(frames))
            if len(calls) == 3:
                raise KeyboardInterrupt
            return frames
        return restore
    monkeypatch.setattr(video, "_network_restorer", restorer)
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt) as raised:
        video.deblur_video(None, str(long_clip), str(out), batch_size=4)
    assert str(raised.value) == (f"8 frames deblurred; nothing was written to {out} (a video "
                                 "is written whole or not at all)")
    assert len(started) == 2
    for stream in started:
        assert stream._ffmpeg.process.returncode is not None and not stream._thread.is_alive()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


@pytest.mark.parametrize("which, message", [
    ("Decoder", r"cannot read video {source} to its end \(frame \d+\): ffmpeg was killed "
                r"\(signal 9\)"),
    ("Encoder", r"cannot write {out}: ffmpeg was killed \(signal 9\)"),
])
def test_a_failing_reader_or_writer_is_one_line(tmp_path, monkeypatch, long_clip, which,
                                                message):
    # ffmpeg stopping on either side (killed here after 2 batches) ends the run with one line
    # naming the file, and leaves nothing.
    started = recorded(monkeypatch, which)
    calls = []

    def restorer(model, temporal_state=False, **options):
        def restore(frames):
            calls.append(len(frames))
            if len(calls) == 2:
                started[0]._ffmpeg.process.kill()
                started[0]._ffmpeg.process.wait()
            return frames
        return restore
    monkeypatch.setattr(video, "_network_restorer", restorer)
    out = tmp_path / "out.mp4"
    with pytest.raises(video.VideoError) as raised:
        video.deblur_video(None, str(long_clip), str(out), batch_size=4)
    assert re.fullmatch(message.format(source=long_clip, out=out), str(raised.value))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]
