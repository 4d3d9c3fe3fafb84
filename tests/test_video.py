import os

import numpy as np
import pytest

from conftest import ROOT, run_script
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
    # By a relative name with a colon (BH-24), a camcorder's .mts, into a folder (issue 25): the
    # result is <folder>/<input's name>, in the input's container.
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(11)]
    write_video(tmp_path / "Talk: part 1.mts", frames, fps=12)
    build_srn("color").save(str(tmp_path / "m.keras"))
    result = run_script(os.path.join(ROOT, "deblur.py"), "--input=Talk: part 1.mts",
                        "--output=out/", "--weights=m.keras", "--batch_size=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [   # the path it chose, then what it wrote
        "network: float32 on keras (TensorFlow), the fastest accurate path for this CPU (no "
        "avx512_bf16 or amx_bf16)", "wrote out/Talk: part 1.mts: 11 frames at 12 fps"]
    meta, decoded = read_video(tmp_path / "out" / "Talk: part 1.mts")
    assert len(decoded) == 11 and tuple(meta["size"]) == (64, 48) and meta["fps"] == 12
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["Talk: part 1.mts"]


@pytest.mark.slow
def test_corrupt_video_is_a_clear_error_and_leaves_no_file(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    build_srn("color").save(str(tmp_path / "m.keras"))
    result = run_script("deblur.py", f"--input={tmp_path / 'bad.mp4'}",
                        f"--output={tmp_path / 'out' / 'x.mp4'}", f"--weights={tmp_path / 'm.keras'}")
    assert result.returncode != 0 and "cannot read video" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _lstm_model(seed=0):
    """A near-identity lstm model whose ConvLSTM matters (its 1e-3 init kernel × 1000)."""
    from conftest import near_identity_model
    model = near_identity_model("lstm", seed=seed)
    kernel = model.get_layer("convLSTM").conv.kernel
    kernel.assign(kernel.numpy() * 1000)
    return model


def test_state_io_twin_with_zero_state_is_the_release_network():
    import tensorflow as tf
    model = _lstm_model()
    twin = build_srn("lstm", state_io=True)
    twin.set_weights(model.get_weights())
    assert twin.count_params() == model.count_params() == 8_056_609
    x = tf.constant(np.random.default_rng(1).uniform(0, 1, (2, 64, 96, 1)), tf.float32)
    levels = model(x)
    *twin_levels, state = twin([x, tf.zeros([2, 1, 1, 256])])
    for a, b in zip(levels, twin_levels):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert state.shape == (2, 16, 24, 256)
    # a carried state changes the result: the state input is wired in
    *carried, _ = twin([x, state])
    assert np.abs(carried[-1].numpy() - levels[-1].numpy()).max() > 1e-3
    with pytest.raises(ValueError, match="lstm"):
        build_srn("gray", state_io=True)


def test_temporal_deblurrer_first_frame_is_per_image_and_state_carries():
    from srn_tf import deblur
    from srn_tf.video import TemporalDeblurrer
    model = _lstm_model()
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    temporal = TemporalDeblurrer(model)
    first, second = temporal(frames[0]), temporal(frames[1])
    assert first.dtype == np.uint8 and first.shape == frames[0].shape
    np.testing.assert_array_equal(first, deblur(model, frames[0]))
    assert np.abs(second.astype(int) - deblur(model, frames[1]).astype(int)).max() > 0
    temporal.reset()
    np.testing.assert_array_equal(temporal(frames[1]), deblur(model, frames[1]))


def test_temporal_state_rejects_what_it_cannot_do():
    from srn_tf.video import TemporalDeblurrer, frame_restorer
    with pytest.raises(ValueError, match="needs an lstm model"):
        TemporalDeblurrer(build_srn("color"))
    model = _lstm_model()
    with pytest.raises(ValueError, match="tile"):
        frame_restorer(model, temporal_state=True, tile=64)
    small_budget = TemporalDeblurrer(model, memory_budget=32 * 32 * 720)
    with pytest.raises(ValueError, match="exceed the memory budget"):
        small_budget(np.zeros((64, 64, 1), np.uint8))


@pytest.mark.slow
def test_temporal_state_through_deblur_py(tmp_path):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    write_video(tmp_path / "clip.mp4", frames, fps=10)
    _lstm_model().save(str(tmp_path / "lstm.keras"))
    color = tmp_path / "color.keras"
    build_srn("color").save(str(color))
    out = tmp_path / "clip_out.mp4"
    common = [f"--input={tmp_path / 'clip.mp4'}", f"--output={out}", "--temporal_state"]
    result = run_script("deblur.py", *common, f"--weights={tmp_path / 'lstm.keras'}")
    assert result.returncode == 0, result.stderr[-3000:]
    meta, decoded = read_video(out)
    assert len(decoded) == 5 and tuple(meta["size"]) == (64, 48) and meta["fps"] == 10
    # a folder of frames, in name order
    folder = tmp_path / "frames"
    folder.mkdir()
    from srn_tf.image_io import write_png
    for i, frame in enumerate(frames):
        write_png(str(folder / f"{i:04d}.png"), frame)
    result = run_script("deblur.py", f"--input={folder}", f"--output={tmp_path / 'out'}",
                        "--temporal_state", f"--weights={tmp_path / 'lstm.keras'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i:04d}.png" for i in range(5)]
    # the color type has no ConvLSTM: one clear error, no output
    result = run_script("deblur.py", *common[:1], f"--output={tmp_path / 'c.mp4'}",
                        "--temporal_state", f"--weights={color}")
    assert result.returncode != 0 and "needs an lstm model" in result.stderr
    assert not (tmp_path / "c.mp4").exists()
