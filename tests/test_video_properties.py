"""A video comes back as the same video in every property a player uses (issue 20): colours
(matrix, range, primaries, transfer: BH-20), bit depth and HDR (BH-21), sample aspect ratio,
rotation, interlacing; what cannot be kept is one warning line.

Every value is read back with ffmpeg itself (its description of the file, and frames decoded as a
player decodes them), not with srn_tf.video_io's probe. Colour tests run the real network with
weights that return their input exactly (`apply_init(model, "identity")`); the geometry tests
use the identity stand-in (conftest's `video_identity`).
"""

import logging
import re
import subprocess

import numpy as np
import pytest

from srn_tf import video
from test_video_streams import FFMPEG, ffmpeg


@pytest.fixture(scope="session")
def identity_model():
    """The color network with weights that return their input exactly."""
    from srn_tf import build_srn
    from srn_tf.init import apply_init
    return apply_init(build_srn("color"), "identity")


def described(path):
    """ffmpeg's line for the video stream of `path`, and its whole description."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    return next(line for line in text.splitlines() if ": Video: " in line), text


def first_frame_info(path):
    """ffmpeg's showinfo text of the first decoded frame (its flags, side data, colour)."""
    text = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path), "-frames:v", "1", "-vf",
                           "showinfo", "-f", "null", "-"], capture_output=True, text=True).stderr
    return "\n".join(line for line in text.splitlines() if "showinfo" in line)


def shown(path, pix_fmt="rgb24", untagged_matrix=None):
    """The frames of `path` as a player shows them: ffmpeg decodes with the matrix and range the
    file is tagged with; an untagged file with `untagged_matrix` (players: BT.709 for HD)."""
    line, text = described(path)
    width, height = map(int, re.search(r", (\d+)x(\d+)", line).groups())
    if re.search(r"rotation of -?90", text):   # decoded upright, as players show it
        width, height = height, width
    scale = f"scale=in_color_matrix={untagged_matrix}," if untagged_matrix else ""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-vf",
                          f"{scale}format={pix_fmt}", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    dtype = np.uint16 if pix_fmt == "rgb48le" else np.uint8
    return np.frombuffer(raw, dtype).reshape(-1, height, width, 3)


def bars(width, height):
    """lavfi source: red, green, blue bars (0xE02020, 0x20E020, 0x2020E0), a third each."""
    third = width // 3
    return (f"color=c=0xE02020:s={third}x{height}:r=10,pad={width}:{height}:0:0:0x20E020,"
            f"drawbox=x={2 * third}:y=0:w={width - 2 * third}:h={height}:c=0x2020E0:t=fill,"
            "format=rgb24")


def bar_colours(frames):
    """Mean RGB of the middle of each bar of the first frame, rounded."""
    frame = frames[0].astype(float)
    height, width = frame.shape[:2]
    third = width // 3
    return [tuple(int(round(v)) for v in frame[height // 4:3 * height // 4,
                                                x - third // 4:x + third // 4].mean((0, 1)))
            for x in (third // 2, third + third // 2, 2 * third + third // 2)]


# The bars of BH-20 as a BT.709 player shows them, encoded with BT.709 (the case's README).
BT709_BARS = [(223, 32, 32), (29, 222, 30), (30, 31, 222)]


@pytest.mark.parametrize("colour_range", ["tv", "pc"])
def test_bt709_video_comes_back_in_bt709(tmp_path, identity_model, colour_range):
    # BH-20 in small: tagged BT.709 (limited or full range). Before, the result was encoded with
    # BT.601 and untagged: green 222 came back 190.
    source = tmp_path / "bt709.mp4"
    tags = f"colorspace=bt709:color_primaries=bt709:color_trc=bt709:range={colour_range}"
    ffmpeg("-f", "lavfi", "-i", bars(96, 64), "-frames:v", "3", "-vf",
           f"scale=out_color_matrix=bt709:out_range={colour_range},format=yuv420p,"
           f"setparams={tags}", "-c:v", "libx264", "-crf", "10", str(source))
    before = bar_colours(shown(source))
    assert np.abs(np.subtract(before, BT709_BARS)).max() <= 2
    out = tmp_path / "out.mp4"
    result = video.deblur_video(identity_model, str(source), str(out))
    assert result.not_kept is None
    line, _ = described(out)
    # (full range H.264 decodes as ffmpeg's "yuvj420p")
    assert re.search(rf"yuvj?420p\({colour_range}, bt709, progressive\)", line), line
    assert np.abs(np.subtract(bar_colours(shown(out)), before)).max() <= 2


YUV_UNTAGGED = "format=yuv420p,setparams=colorspace=unknown:range=unknown"


@pytest.mark.parametrize("size, source, player_matrix, tag", [
    ((1280, 720), ["-vf", f"scale=out_color_matrix=bt709,{YUV_UNTAGGED}"], "bt709", "bt709"),
    ((96, 64), ["-vf", f"scale=out_color_matrix=bt601,{YUV_UNTAGGED}"], "bt601", "smpte170m"),
    ((96, 64), ["-c:v", "png", "-f", "mov"], None, "smpte170m"),     # RGB-coded: no matrix
])
def test_untagged_video_is_written_with_the_matrix_players_assume(tmp_path, video_identity, size,
                                                                  source, player_matrix, tag):
    # Untagged video: players take HD (more than 576 lines or 1024 columns) as BT.709 and SD as
    # BT.601; the result is encoded with that matrix and now says so. RGB-coded video becomes
    # limited-range YUV with the same choice.
    path = tmp_path / "untagged.mov"
    ffmpeg("-f", "lavfi", "-i", bars(*size), "-frames:v", "2", *source, str(path))
    # YUV with no colour tags, or RGB
    assert re.search(r"yuv420p\(progressive\)|rgb24\(pc, gbr/", described(path)[0])
    before = bar_colours(shown(path, untagged_matrix=player_matrix))
    out = tmp_path / "out.mp4"
    video.deblur_video(None, str(path), str(out))
    line, _ = described(out)
    assert f"yuv420p(tv, {tag}/unknown/unknown, progressive)" in line, line
    assert np.abs(np.subtract(bar_colours(shown(out)), before)).max() <= 2


def grey_ramp_hdr10(path, frames=3, metadata=True):
    """HEVC Main 10 of a 96×64 grey ramp with ~800 luma levels (more than 8 bits hold), tagged
    BT.2020 / PQ (HDR10), with mastering-display and light-level metadata when `metadata`."""
    ramp = np.linspace(4096, 60000, 96 * 64).reshape(64, 96)
    frame = np.repeat(ramp[:, :, None], 3, axis=2).astype("<u2")
    params = "log-level=error:lossless=1"
    if metadata:
        params += (":master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
                   "L(10000000,50):max-cll=1000,400")
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                    "-pix_fmt", "rgb48le", "-s", "96x64", "-r", "10", "-i", "pipe:",
                    "-vf", "scale=out_color_matrix=bt2020:out_range=tv,format=yuv420p10le,"
                    "setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084:"
                    "range=tv", "-c:v", "libx265", "-x265-params", params, "-tag:v", "hvc1",
                    str(path)], input=frame.tobytes() * frames, check=True)


def test_10_bit_hdr_keeps_its_depth_tags_and_metadata(tmp_path, identity_model, monkeypatch):
    # BH-21 in small: before, the 10-bit PQ video came back 8-bit H.264, untagged, no warning.
    source = tmp_path / "hdr.mp4"
    grey_ramp_hdr10(source)
    seen = []
    restorer = video._network_restorer

    def recording(model, temporal_state=False, **options):
        restore = restorer(model, temporal_state, **options)
        return lambda frames: seen.append(frames) or restore(frames)
    monkeypatch.setattr(video, "_network_restorer", recording)
    out = tmp_path / "out.mp4"
    result = video.deblur_video(identity_model, str(source), str(out))
    assert result.not_kept is None
    # the network ran on 16-bit frames holding more than 8 bits' worth of levels
    assert seen[0].dtype == np.uint16 and len(np.unique(seen[0][..., 1])) > 600
    line, _ = described(out)
    assert "hevc (Main 10)" in line and "yuv420p10le(tv, bt2020nc/bt2020/smpte2084" in line
    info = first_frame_info(out)
    assert "r(0.6800,0.3200) g(0.2650,0.6900)" in info and "max_luminance=1000.0" in info
    assert "MaxCLL=1000, MaxFALL=400" in info
    expected, got = shown(source, "rgb48le"), shown(out, "rgb48le")
    assert len(np.unique(got[0][..., 1])) > 600                  # still more than 8 bits
    assert np.abs(got.astype(int) - expected).mean() < 40        # of 65535


def test_10_bit_in_webm_is_vp9_profile_2_and_what_is_lost_is_one_line(tmp_path, video_identity,
                                                                      caplog):
    source = tmp_path / "hdr.mp4"
    grey_ramp_hdr10(source, frames=2)
    with caplog.at_level(logging.WARNING, logger="srn_tf.video"):
        result = video.deblur_video(None, str(source), str(tmp_path / "out.webm"))
    line, _ = described(tmp_path / "out.webm")
    assert "vp9 (Profile 2)" in line and "yuv420p10le(tv, bt2020nc/bt2020/smpte2084" in line
    # VP9 here takes no HDR10 static metadata: said, in one line
    assert "mastering-display and light-level metadata" in result.not_kept
    assert [r.getMessage() for r in caplog.records] == [result.not_kept]
    assert "\n" not in result.not_kept
    # AVI holds no 10-bit codec here: 8-bit, tags kept, said so
    result = video.deblur_video(None, str(source), str(tmp_path / "out.avi"))
    assert result.not_kept.startswith(f"{tmp_path / 'out.avi'} cannot keep everything of "
                                      f"{source}: its 10-bit colour is written as 8-bit")
    line, _ = described(tmp_path / "out.avi")
    assert "h264" in line and "yuv420p(tv, bt2020nc/bt2020/smpte2084" in line


def test_rotation_and_sample_aspect_ratio_show_as_the_input(tmp_path, video_identity):
    # A phone's portrait clip: frames stored 96×64 with a display matrix turning them 90°.
    plain = tmp_path / "plain.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "3", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(plain))
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
    assert "rotation of 90.00 degrees" in described(rotated)[1]
    out = tmp_path / "out.mp4"
    video.deblur_video(None, str(rotated), str(out))
    line, text = described(out)
    assert ", 64x96" in line and "Display Matrix" not in text   # written upright, untagged
    expected, got = shown(rotated), shown(out)               # as players show both
    assert got.shape == expected.shape == (3, 96, 64, 3)
    assert np.abs(got.astype(int) - expected).mean() < 6
    # anamorphic pixels (DV, HDV, some phones): the sample aspect ratio is kept
    anamorphic = tmp_path / "anamorphic.mp4"
    ffmpeg("-i", str(plain), "-vf", "setsar=4/3", "-c:v", "libx264", str(anamorphic))
    for name in ("out_sar.mp4", "out_sar.webm"):
        video.deblur_video(None, str(anamorphic), str(tmp_path / name))
        assert re.search(r"SAR 4:3 DAR 2:1", described(tmp_path / name)[0]), name


def test_interlaced_video_stays_interlaced(tmp_path, video_identity):
    # 1080i camcorder video (AVCHD .mts) is interlaced, top field first; players deinterlace it.
    source = tmp_path / "interlaced.mts"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "4", "-vf",
           "format=yuv420p,setfield=tff", "-c:v", "libx264", "-flags", "+ildct+ilme",
           str(source))
    assert " i:T " in first_frame_info(source)
    result = video.deblur_video(None, str(source), str(tmp_path / "out.mts"))
    assert result.not_kept is None and " i:T " in first_frame_info(tmp_path / "out.mts")
    result = video.deblur_video(None, str(source), str(tmp_path / "out.webm"))
    assert "interlaced frames are written as progressive" in result.not_kept
