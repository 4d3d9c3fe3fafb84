"""Deblurring a video file frame by frame, streamed: memory does not grow with its length.

Frames are deblurred independently, as the release did, or with `temporal_state=True` (lstm
models) in order with the ConvLSTM state carried from one frame to the next (`TemporalDeblurrer`).
"""

import dataclasses
import fractions
import logging
import os
import re
import subprocess
import tempfile

import numpy as np
from tqdm import tqdm

from srn_tf.backend import require_tensorflow_backend
from srn_tf.cli import disk_full_message
from srn_tf.image_io import ordinary_mode
from srn_tf.inference import deblur_batch
from srn_tf.model import LSTM_FILTERS, model_type_of, rebuild
from srn_tf.restore import from_unit_range, precision_policy, restore_with_state, to_unit_range
from srn_tf.tiling import DEFAULT_MEMORY_BUDGET, fits_whole

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
    Keras's TensorFlow backend only (a `tf.function` carries the state): elsewhere
    `srn_tf.backend.BackendError`.
    """

    def __init__(self, model, precision="float32", memory_budget=DEFAULT_MEMORY_BUDGET):
        require_tensorflow_backend("--temporal_state")
        import tensorflow as tf
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
        import tensorflow as tf   # imported by __init__ already
        if self._state is None or self._state.shape[0] != channels:
            self._state = tf.zeros([channels, 1, 1, 2 * LSTM_FILTERS])
        restored, self._state = self._step(tf.constant(batch), self._state)
        restored = restored.numpy()
        return restored if frame.ndim == 4 else restored[0]


def frame_restorer(model, temporal_state=False, **options):
    """f(uint frames [N, H, W, C]) → deblurred frames, in order.

    Independent frames go through `srn_tf.inference.deblur_batch` with `options` (tile, overlap,
    precision, jit_compile, memory_budget, runtime). With `temporal_state`, a `TemporalDeblurrer`
    runs them one after another; it takes precision and memory_budget only.
    """
    if not temporal_state:
        return lambda frames: deblur_batch(model, frames, **options)
    unsupported = [k for k in ("tile", "jit_compile") if options.get(k)]
    if options.get("runtime", "keras") != "keras":
        unsupported.append("runtime")
    if unsupported:
        raise ValueError(f"temporal state runs whole frames on TensorFlow without XLA; it does "
                         f"not take {unsupported}: leave them out")
    temporal = TemporalDeblurrer(model, options.get("precision", "float32"),
                                 options.get("memory_budget", DEFAULT_MEMORY_BUDGET))
    return lambda frames: np.stack([temporal(frame) for frame in frames])


# Video codec of the output by container; others get H.264 (imageio-ffmpeg's default).
CODECS = {".webm": "libvpx-vp9"}


@dataclasses.dataclass
class VideoInfo:
    """What `probe` reads from ffmpeg's description of a video file.

    rate: the frame rate ffmpeg emits decoded frames at (its `tbr`; for variable-frame-rate files
      this is not the average `fps`), frames per second as a Fraction (NTSC rates exact).
    average_rate: frames per second over the whole file (ffmpeg's `fps`), as a float.
    size: (width, height) in pixels, as decoded (rotation applied).
    duration: seconds, from the container header (0 when unknown).
    other_streams: ffmpeg's lines for the streams that are not the first video stream (audio,
      subtitles, data, further video such as cover art), which the output keeps.
    """
    rate: fractions.Fraction
    average_rate: float
    size: tuple
    duration: float
    other_streams: list


def _ffmpeg(*args):
    """Runs the ffmpeg bundled with imageio-ffmpeg; returns (exit status, stderr text)."""
    import imageio_ffmpeg
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
                            capture_output=True, text=True, errors="replace")
    return result.returncode, result.stderr


def _ffmpeg_reason(text):
    """The first lines of ffmpeg's error output (run with -loglevel error), without the
    "[muxer @ 0x…]" prefixes."""
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", line).strip() for line in text.splitlines()]
    return " / ".join([line for line in lines if line][:2]) or "no reason given"


def _undecodable(path, exc):
    """The VideoError of a file ffmpeg cannot start decoding; ffmpeg's own (long) log goes to the
    INFO log, shown with --verbose."""
    log.info("ffmpeg on %s: %s", path, exc)
    return VideoError(f"cannot read video {path}: truncated or not a video ffmpeg can decode")


def _exact_rate(value):
    """A rate as ffmpeg prints it (2 decimals) → Fraction; 29.97 → 30000/1001 and the like."""
    rate = fractions.Fraction(value).limit_denominator(1000)
    ntsc = round(value * 1.001)
    if ntsc and abs(value - ntsc / 1.001) < 0.006 and abs(value - ntsc) > 0.006:
        return fractions.Fraction(ntsc * 1000, 1001)
    return rate


def probe(path):
    """VideoInfo of the video file `path`. Raises VideoError when ffmpeg finds no video stream."""
    import imageio_ffmpeg
    _, text = _ffmpeg("-i", os.fspath(path))   # "-i" alone: ffmpeg describes the file
    streams = [line.strip() for line in text.splitlines() if line.strip().startswith("Stream #")]
    video = next((line for line in streams if ": Video:" in line), None)
    if video is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise VideoError(f"cannot read video {path}: ffmpeg finds no video stream ({last})")
    reader = imageio_ffmpeg.read_frames(os.fspath(path))
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as e:
        raise _undecodable(path, e) from e
    finally:
        reader.close()
    found = re.search(r"([\d.]+)(k?) tbr", video)
    rate = (_exact_rate(float(found.group(1)) * (1000 if found.group(2) else 1)) if found
            else _exact_rate(meta["fps"]))
    return VideoInfo(rate, meta["fps"], tuple(meta["size"]), meta.get("duration") or 0.0,
                     [line for line in streams if line != video])


def _frames(path, rate):
    """Generator of uint8 H×W×3 frames, decoded by ffmpeg at the constant `rate`.

    At its emitted rate ffmpeg shows a variable-frame-rate video's frame as many times as it
    lasts, so the frames keep their times (`deblur_video` deblurs each repeat once).
    """
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(os.fspath(path), output_params=["-fps_mode", "cfr",
                                                                         "-r", str(rate)])
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as e:
        raise _undecodable(path, e) from e
    width, height = meta["size"]
    try:
        for raw in reader:
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    except (OSError, RuntimeError) as e:
        raise VideoError(f"cannot read video {path} to its end: {e}") from e
    finally:
        reader.close()


def _encoder_args(output_path, size):
    """ffmpeg output options of the deblurred video stream for `output_path`'s container."""
    width, height = size
    even = width % 2 == 0 and height % 2 == 0
    codec = CODECS.get(os.path.splitext(output_path)[1].lower(), "libx264")
    quality = ["-crf", "10"] if codec == "libx264" else ["-crf", "20", "-b:v", "0"]
    return ["-c:v", codec, "-pix_fmt", "yuv420p" if even else "yuv444p", *quality]


def _mux_args(video, source, output):
    """ffmpeg arguments: `video`'s video stream + every other stream and the metadata of `source`."""
    return ["-i", video, "-i", source, "-map", "0:v:0", "-map", "1", "-map", "-1:v:0",
            "-map_metadata", "1", "-c", "copy", "-y", output]


def _temporary_beside(path, tag):
    fd, tmp = tempfile.mkstemp(prefix=f".{tag}-", suffix=os.path.splitext(path)[1],
                               dir=os.path.dirname(os.path.abspath(path)))
    os.fchmod(fd, ordinary_mode())   # not mkstemp's 0600: the video is renamed into place
    os.close(fd)
    return tmp


def check_output(input_path, output_path, info):
    """Raises VideoError unless `output_path` can take the deblurred video and `input_path`'s
    other streams; called before the first frame is deblurred.

    Writes a one-frame video with those streams beside `output_path` (so the folder's
    permissions, the container's codec and stream support and free space for a start are all
    tried by ffmpeg itself) and removes it.
    """
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise VideoError(f"refusing to overwrite the input video {input_path}")
    if os.path.isdir(output_path):
        raise VideoError(f"--output {output_path} is a folder; name the video file to write, "
                         f"e.g. {os.path.join(output_path, os.path.basename(input_path))}")
    if not is_video(output_path):
        raise VideoError(f"--output {output_path} is not a video file name: use one of "
                         f"{', '.join(VIDEO_EXTENSIONS)}")
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    try:
        tmp = _temporary_beside(output_path, "check")
    except OSError as e:
        raise VideoError(f"cannot write {output_path}: {e.strerror} in its folder") from e
    width, height = info.size
    try:
        status, text = _ffmpeg(
            "-loglevel", "error", "-f", "lavfi", "-i", f"color=size={width}x{height}:rate={info.rate}", "-i", input_path,
            "-map", "0:v:0", "-map", "1", "-map", "-1:v:0", "-c", "copy",
            *_encoder_args(output_path, info.size), "-frames:v", "1", "-t", "0.05", "-y", tmp)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if status and "No space left on device" in text:
        raise VideoError(disk_full_message(output_path))
    if status:
        raise VideoError(f"cannot write {output_path} with the input's {len(info.other_streams)} "
                         f"other stream(s) (nothing was deblurred): ffmpeg says: "
                         f"{_ffmpeg_reason(text)}. Choose another folder or extension (.mkv holds "
                         "any codec and stream)")


def _ended_early(path, info, frames):
    """A sentence when `frames` decoded frames at `info.rate` fall short of the container's
    announced duration by more than 2 frames and 5 % (an audio track may outlast the video a
    little), else None: a truncated or damaged file whose video stream ends early."""
    decoded = frames / float(info.rate)
    if info.duration - decoded <= max(2 / float(info.rate), 0.05 * info.duration):
        return None
    announced = round(info.duration * float(info.rate))
    return (f"video {path} ends early: {frames} frames of {announced} ({decoded:.2f} s of "
            f"{info.duration:.2f} s) could be decoded; the file is truncated or damaged")


@dataclasses.dataclass
class VideoResult:
    """What `deblur_video` wrote: `frames` frames at `rate` fps, of which `deblurred` were run
    through the network (the others repeat the frame before, as ffmpeg shows a variable-rate
    video), and `streams_copied` other streams of the input (audio, subtitles...)."""
    frames: int
    deblurred: int
    rate: fractions.Fraction
    streams_copied: int

    def __str__(self):
        repeats = self.frames - self.deblurred
        return (f"{self.frames} frames at {float(self.rate):g} fps" +
                (f" ({self.deblurred} deblurred, {repeats} repeating the frame before, as "
                 "ffmpeg shows this variable-frame-rate video)" if repeats else "") +
                (f"; {self.streams_copied} other stream(s) (audio, subtitles...) copied"
                 if self.streams_copied else ""))


def deblur_video(model, input_path, output_path, batch_size=4, temporal_state=False, **options):
    """Deblurs every frame of a video into a new video: same size, duration and timing, with the
    input's audio and other streams and metadata copied.

    Frames are decoded at the rate ffmpeg emits them (`probe`'s `rate`: a variable-frame-rate
    video's frames repeat as long as they last; each repeat is deblurred once and written again),
    deblurred in batches of `batch_size` (tiled when large; `temporal_state` and `options` go to
    `frame_restorer`) and encoded as they come, so memory stays flat; the output is encoded at
    that same constant rate (H.264, VP9 for .webm), so its duration is the input's. The output
    and its streams are checked (`check_output`) before the first frame is deblurred; the result
    is written under a temporary name and renamed when complete: an interrupted or failed run
    leaves nothing under `output_path`. A video stream that ends before the container's announced
    duration (a truncated file) raises VideoError after the frames decoded are written to
    `output_path` (when it did not exist; else nothing is written). Returns a VideoResult. Raises
    VideoError.
    """
    import imageio_ffmpeg
    info = probe(input_path)
    check_output(input_path, output_path, info)
    restore = frame_restorer(model, temporal_state, **options)
    constant = abs(info.average_rate - float(info.rate)) < 0.01
    expected = int(round(info.duration * info.rate)) if constant else None   # the bar's total
    video_tmp = _temporary_beside(output_path, "video")
    final_tmp = _temporary_beside(output_path, "tmp")
    writer = imageio_ffmpeg.write_frames(video_tmp, info.size, fps=info.rate, macro_block_size=1,
                                         quality=None, ffmpeg_log_level="error",
                                         output_params=_encoder_args(output_path, info.size)[2:])
    written = deblurred = 0
    try:
        writer.send(None)
        batch, repeats, last = [], [], (None, None)   # last: (input frame, its output)

        def flush():
            nonlocal written, deblurred, last
            for frame, out, count in zip(batch, restore(np.stack(batch)), repeats):
                out = np.ascontiguousarray(out)
                for _ in range(count):
                    writer.send(out)
                written += count
                last = (frame, out)
            deblurred += len(batch)
            bar.update(sum(repeats))
            batch.clear()
            repeats.clear()

        with tqdm(total=expected, desc="deblurring", unit="frame") as bar:
            for frame in _frames(input_path, info.rate):
                if batch and np.array_equal(frame, batch[-1]):
                    repeats[-1] += 1
                elif not batch and last[0] is not None and np.array_equal(frame, last[0]):
                    writer.send(last[1])
                    written += 1
                    bar.update(1)
                else:
                    batch.append(frame)
                    repeats.append(1)
                    if len(batch) == batch_size:
                        flush()
            if batch:
                flush()
        writer.close()
        short = _ended_early(input_path, info, written)
        if short and os.path.exists(output_path):
            raise VideoError(f"{short}; nothing was written ({output_path} exists and was kept)")
        if info.other_streams:
            status, text = _ffmpeg("-loglevel", "error",
                                   *_mux_args(video_tmp, input_path, final_tmp))
            if status:
                raise VideoError(f"cannot copy the other streams of {input_path} into "
                                 f"{output_path}: ffmpeg says: {_ffmpeg_reason(text)}")
            os.replace(final_tmp, output_path)
        else:
            os.replace(video_tmp, output_path)
        if short:
            raise VideoError(f"{short}; the {written} frames decoded are deblurred in "
                             f"{output_path}")
    finally:
        writer.close()
        for tmp in (video_tmp, final_tmp):
            if os.path.exists(tmp):
                os.remove(tmp)
    return VideoResult(written, deblurred, info.rate, len(info.other_streams))
