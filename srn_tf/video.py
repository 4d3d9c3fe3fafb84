"""Deblurring a video file frame by frame, streamed: memory does not grow with its length."""

import logging
import os
import tempfile

import numpy as np
from tqdm import tqdm

from srn_tf.inference import deblur_batch

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


class VideoError(ValueError):
    """A video that cannot be read or written; the message names it."""


def is_video(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


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


def deblur_video(model, input_path, output_path, batch_size=4, **options):
    """Deblurs every frame of a video into a new video with the same frame rate and size.

    Frames are read, deblurred in batches of `batch_size` (tiled when large; `options` go to
    `srn_tf.inference.deblur_batch`) and encoded as they come, so memory stays flat. The output is
    written under a temporary name and renamed when complete: an interrupted run leaves nothing
    under `output_path`. Returns the number of frames written.
    """
    import imageio_ffmpeg
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise VideoError(f"refusing to overwrite the input video {input_path}")
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
                    for out in deblur_batch(model, np.stack(batch), **options):
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
