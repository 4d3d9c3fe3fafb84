"""Deblurring a video file frame by frame, streamed: memory does not grow with its length.

Frames are deblurred independently, as the release did, or with `temporal_state=True` (lstm
models) in order with the ConvLSTM state carried from one frame to the next (`TemporalDeblurrer`).
"""

import logging
import os
import tempfile

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from srn_tf.inference import (DEFAULT_MEMORY_BUDGET, deblur_batch, fits_whole, from_unit_range,
                              precision_policy, restore_with_state, to_unit_range)
from srn_tf.model import LSTM_FILTERS, model_type_of, rebuild

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


class VideoError(ValueError):
    """A video that cannot be read or written; the message names it."""


def is_video(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


class TemporalDeblurrer:
    """Deblurs frames in order with an lstm model, the ConvLSTM state carried between frames.

    The release starts every image from a zero state at the coarsest level. Here frame t starts
    from frame t−1's final (finest-level) state, resized to the coarsest bottleneck; the first
    frame, and every frame after `reset()`, starts from zeros, so a one-frame video gives exactly
    the per-image result. Frames run whole (no tiling): `memory_budget` (bytes) only checks that
    they fit.

    Call with uint8/uint16 frames [H, W, C] (or [1, H, W, C]); returns the same dtype and shape.
    """

    def __init__(self, model, precision="float32", memory_budget=DEFAULT_MEMORY_BUDGET):
        if model_type_of(model) != "lstm":
            raise ValueError("temporal state needs an lstm model (the only one with a ConvLSTM), "
                             f"got a {model_type_of(model)} model")
        self._net = rebuild(model, precision_policy(precision), state_io=True)
        self._memory_budget = memory_budget
        self._step = tf.function(self._restore, autograph=False, reduce_retracing=True)
        self.reset()

    def reset(self):
        """Forget the carried state: the next frame starts afresh, as the release's images do."""
        self._state = None

    def _restore(self, frames, state):
        restored, state = restore_with_state(self._net, to_unit_range(frames), state)
        return from_unit_range(restored, frames.dtype), state

    def __call__(self, frame):
        frame = np.asarray(frame)
        batch = frame if frame.ndim == 4 else frame[None]
        if len(batch) != 1:
            raise ValueError(f"frames carry state one after another: pass one frame, got {len(batch)}")
        if not fits_whole(batch.shape[1], batch.shape[2], self._memory_budget):
            raise ValueError(f"temporal state deblurs whole frames, and {batch.shape[1]}×"
                             f"{batch.shape[2]} frames exceed the memory budget of "
                             f"{self._memory_budget / 2**20:.0f} MiB; raise the memory budget or "
                             "leave temporal state off (then large frames are tiled)")
        channels = batch.shape[3]
        if self._state is None or self._state.shape[0] != channels:
            self._state = tf.zeros([channels, 1, 1, 2 * LSTM_FILTERS])
        restored, self._state = self._step(tf.constant(batch), self._state)
        restored = restored.numpy()
        return restored if frame.ndim == 4 else restored[0]


def frame_restorer(model, temporal_state=False, **options):
    """f(uint frames [N, H, W, C]) → deblurred frames, in order.

    Independent frames go through `srn_tf.inference.deblur_batch` with `options` (tile, overlap,
    precision, jit_compile, memory_budget). With `temporal_state`, a `TemporalDeblurrer` runs them
    one after another; it takes precision and memory_budget only.
    """
    if not temporal_state:
        return lambda frames: deblur_batch(model, frames, **options)
    unsupported = [k for k in ("tile", "jit_compile") if options.get(k)]
    if unsupported:
        raise ValueError(f"temporal state runs whole frames without XLA; it does not take "
                         f"{unsupported}: leave them out")
    temporal = TemporalDeblurrer(model, options.get("precision", "float32"),
                                 options.get("memory_budget", DEFAULT_MEMORY_BUDGET))
    return lambda frames: np.stack([temporal(frame) for frame in frames])


def _frames(path):
    """(metadata, generator of uint8 H×W×3 frames) read with imageio-ffmpeg's bundled ffmpeg."""
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(path)
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as e:
        raise VideoError(f"cannot read video {path}: not a video ffmpeg can decode ({e})") from e
    width, height = meta["size"]

    def frames():
        try:
            for raw in reader:
                yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        except (OSError, RuntimeError) as e:
            raise VideoError(f"cannot read video {path} to its end: {e}") from e
    return meta, frames()


def deblur_video(model, input_path, output_path, batch_size=4, temporal_state=False, **options):
    """Deblurs every frame of a video into a new video with the same frame rate and size.

    Frames are read, deblurred in batches of `batch_size` (tiled when large; `temporal_state` and
    `options` go to `frame_restorer`) and encoded as they come, so memory stays flat. The output is
    written under a temporary name and renamed when complete: an interrupted run leaves nothing
    under `output_path`. Returns the number of frames written.
    """
    import imageio_ffmpeg
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise VideoError(f"refusing to overwrite the input video {input_path}")
    restore = frame_restorer(model, temporal_state, **options)
    meta, frames = _frames(input_path)
    width, height = meta["size"]
    fps = meta["fps"]
    expected = int(round(meta.get("duration", 0) * fps)) or None
    folder = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(output_path)[1],
                               dir=folder)
    os.close(fd)
    even = width % 2 == 0 and height % 2 == 0
    writer = imageio_ffmpeg.write_frames(tmp, (width, height), fps=fps, macro_block_size=1,
                                         pix_fmt_out="yuv420p" if even else "yuv444p",
                                         quality=8)
    written = 0
    try:
        writer.send(None)
        batch = []
        with tqdm(total=expected, desc="deblurring", unit="frame") as bar:
            for frame in _append_sentinel(frames):
                if frame is not None:
                    batch.append(frame)
                if batch and (len(batch) == batch_size or frame is None):
                    for out in restore(np.stack(batch)):
                        writer.send(np.ascontiguousarray(out))
                    written += len(batch)
                    bar.update(len(batch))
                    batch = []
        writer.close()
        os.replace(tmp, output_path)
    finally:
        writer.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return written


def _append_sentinel(iterable):
    yield from iterable
    yield None
