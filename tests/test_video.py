import numpy as np
import pytest

from conftest import run_script
from srn_tf.model import build_srn


def write_video(path, frames, fps):
    import imageio_ffmpeg
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, macro_block_size=1,
                                         quality=9)
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def read_video(path):
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return meta, [np.frombuffer(f, np.uint8) for f in reader]


@pytest.mark.slow
def test_video_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(11)]
    write_video(tmp_path / "clip.mp4", frames, fps=12)
    build_srn("color").save(str(tmp_path / "m.keras"))
    out = tmp_path / "out" / "clip_deblurred.mp4"
    result = run_script("deblur.py", f"--input={tmp_path / 'clip.mp4'}", f"--output={out}",
                        f"--weights={tmp_path / 'm.keras'}", "--batch_size=4")
    assert result.returncode == 0, result.stderr[-3000:]
    meta, decoded = read_video(out)
    assert len(decoded) == 11 and tuple(meta["size"]) == (64, 48) and meta["fps"] == 12
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip_deblurred.mp4"]


@pytest.mark.slow
def test_corrupt_video_is_a_clear_error_and_leaves_no_file(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    build_srn("color").save(str(tmp_path / "m.keras"))
    result = run_script("deblur.py", f"--input={tmp_path / 'bad.mp4'}",
                        f"--output={tmp_path / 'out' / 'x.mp4'}", f"--weights={tmp_path / 'm.keras'}")
    assert result.returncode != 0 and "cannot read video" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
