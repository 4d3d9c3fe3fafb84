"""Deblurring a video file frame by frame, streamed: memory does not grow with its length.

Frames are deblurred independently, as the release did, or with `temporal_state=True` (lstm
models) in order with the ConvLSTM state carried from one frame to the next (`TemporalDeblurrer`).
Reading and writing the file, so that the result is the same video in every property a player
uses, is `srn_tf.video_io`'s.
"""

import dataclasses
import fractions
import logging
import os

import numpy as np
from tqdm import tqdm

from srn_tf import runtimes, video_io
from srn_tf.backend import require_tensorflow_backend
from srn_tf.errors import Interrupted, VideoError
from srn_tf.inference import deblur_batch
from srn_tf.model import LSTM_FILTERS, model_type_of, rebuild
from srn_tf.restore import from_unit_range, precision_policy, restore_with_state, to_unit_range
from srn_tf.temporal import ConsistentFilter
from srn_tf.tiling import DEFAULT_MEMORY_BUDGET, fits_whole

log = logging.getLogger(__name__)


class TemporalDeblurrer:
    """Deblurs frames in order with an lstm model, the ConvLSTM state carried between frames.

    The release starts every image from a zero state at the coarsest level. Here frame t starts
    from frame t−1's final (finest-level) state, resized to the coarsest bottleneck; the first
    frame, and every frame after `reset()`, starts from zeros, so a one-frame video gives exactly
    the per-image result. Frames run whole (no tiling): `memory_budget` (bytes) only checks that
    they fit.

    precision: "float32", "bfloat16" or "auto" (`srn_tf.runtimes.choose`'s for keras: bfloat16
    where the CPU runs it natively). Call with uint8/uint16 frames [H, W, C] (or [1, H, W, C]);
    returns the same dtype and shape.
    Keras's TensorFlow backend only (a `tf.function` carries the state): elsewhere
    `srn_tf.backend.BackendError`.
    """

    def __init__(self, model, precision="auto", memory_budget=DEFAULT_MEMORY_BUDGET):
        require_tensorflow_backend("--temporal_state")
        import tensorflow as tf
        if model_type_of(model) != "lstm":
            raise ValueError("temporal state needs an lstm model (the only one with a ConvLSTM), "
                             f"got a {model_type_of(model)} model")
        precision = runtimes.choose("keras", precision).precision
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


def frame_restorer(model, temporal_state=False, consistency=0.0, warping_error=None,
                   **options):
    """f(uint frames [N, H, W, C]) → deblurred frames; call it with the frames in order.

    Independent frames go through `srn_tf.inference.deblur_batch` with `options` (tile, overlap,
    precision, jit_compile, memory_budget, runtime). With `temporal_state`, a `TemporalDeblurrer`
    runs them one after another; it takes precision and memory_budget only. `consistency` > 0
    passes the results through `srn_tf.temporal.ConsistentFilter(consistency)` (the consistent
    mode); `warping_error`, a `srn_tf.temporal.WarpingError`, is given each input frame with the
    input itself and the result (`values`: the input's and the result's flicker).
    """
    restore = _network_restorer(model, temporal_state, **options)
    if not consistency and warping_error is None:
        return restore
    steady = ConsistentFilter(consistency) if consistency else None

    def restore_in_order(frames):
        outputs = restore(frames)
        if steady is not None:
            outputs = np.stack([steady.filter(i, o) for i, o in zip(frames, outputs)])
        if warping_error is not None:
            for frame, output in zip(frames, outputs):
                warping_error.add(frame, frame, output)
        return outputs
    return restore_in_order


def _network_restorer(model, temporal_state, **options):
    """`frame_restorer` without the temporal post-processing."""
    if not temporal_state:
        return lambda frames: deblur_batch(model, frames, **options)
    unsupported = [k for k in ("tile", "jit_compile") if options.get(k)]
    if options.get("runtime", runtimes.AUTO) not in ("keras", runtimes.AUTO):
        unsupported.append("runtime")
    if unsupported:
        raise ValueError(f"temporal state runs whole frames on TensorFlow without XLA; it does "
                         f"not take {unsupported}: leave them out")
    temporal = TemporalDeblurrer(model, options.get("precision", runtimes.AUTO),
                                 options.get("memory_budget", DEFAULT_MEMORY_BUDGET))
    return lambda frames: np.stack([temporal(frame) for frame in frames])


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
    """What `deblur_video` wrote: the video file `path`, `frames` frames at `rate` fps, of which
    `deblurred` were run through the network (the others are identical to the frame before:
    repeats of a variable-frame-rate video as ffmpeg shows it, or still frames, written again),
    `streams_copied` other streams of the input (audio, subtitles...), and `not_kept`: what of
    the input's description the output could not keep (one line, also logged as a warning), or
    None."""
    path: str
    frames: int
    deblurred: int
    rate: fractions.Fraction
    streams_copied: int
    not_kept: str = None

    def __str__(self):
        repeats = self.frames - self.deblurred
        return (f"{self.frames} frames at {float(self.rate):g} fps" +
                (f" ({self.deblurred} deblurred; {repeats} identical to the frame before, "
                 "written again)" if repeats else "") +
                (f"; {self.streams_copied} other stream(s) (audio, subtitles...) copied"
                 if self.streams_copied else ""))


def deblur_video(model, input_path, output_path, batch_size=4, temporal_state=False,
                 consistency=0.0, warping_error=None, **options):
    """Deblurs every frame of a video into a new video that a player shows as the input, but
    deblurred: same size, duration and timing, colours, sample aspect ratio, orientation,
    interlacing and bit depth (`srn_tf.video_io.coding`), with the input's audio, other streams
    and metadata copied.

    Args:
      model: a model from `build_srn`/`load_model` (any type; `temporal_state` needs lstm).
      input_path: any video file ffmpeg reads (`video_io.is_video`), whatever its name.
      output_path: the video file to write (a container of `video_io.CONTAINERS`: H.264, or
        HEVC for 10/12-bit input; VP9 for .webm), or a folder (existing, ending in a separator,
        or without extension): then `<folder>/<input stem><extension>`, the input's container
        when it can hold the result, else .mp4, else .mkv (`video_io.choose_output`).
      batch_size: frames deblurred together; temporal_state, consistency (the consistent mode's
        strength, 0 = off), warping_error and options (tile, overlap, precision, jit_compile,
        memory_budget, runtime) go to `frame_restorer`.

    Frames are decoded at the rate ffmpeg emits them (`probe`'s `rate`: a variable-frame-rate
    video's frames repeat as long as they last; a frame identical to the one before is deblurred
    once and written again) as uint8 RGB, or uint16 RGB for 10- and 12-bit video, deblurred in
    batches and encoded at that same constant rate, so the duration is the input's. Decoding
    and encoding run in their own threads and ffmpeg processes, queues of `batch_size` frames
    between them and the network, so that they overlap it while memory stays flat.

    The output is checked (`check_output`) before the first frame is deblurred; what it cannot
    keep of the input is logged as one warning line before the work. The result is written
    under a temporary name, read back (`video_io.verify`: every frame decodes, duration) and
    renamed when complete: an interrupted (Ctrl-C, SIGTERM) or failed run leaves nothing under
    the output name. A video stream that ends before the container's announced duration (a
    truncated file) raises VideoError after the frames decoded are written to the output (when
    it did not exist; else nothing is written).

    Returns a VideoResult. Raises VideoError (one line naming the file) for a file that cannot
    be read or written; Ctrl-C (KeyboardInterrupt) stops ffmpeg and the threads, removes the
    temporary files and raises `srn_tf.errors.Interrupted` saying how far it came.
    """
    info = video_io.probe(input_path)
    output_path, plan = video_io.choose_output(input_path, output_path, info)
    not_kept = None
    if plan.lost:
        not_kept = (f"{output_path} cannot keep everything of {input_path}: "
                    + "; ".join(plan.lost))
        log.warning(not_kept)
    restore = frame_restorer(model, temporal_state, consistency, warping_error, **options)
    constant = abs(info.average_rate - float(info.rate)) < 0.01
    expected = int(round(info.duration * info.rate)) if constant else None   # the bar's total
    decoder = encoder = None
    temporaries = []
    written = deblurred = 0
    try:
        temporaries += [video_io.temporary_beside(output_path, tag) for tag in ("video", "tmp")]
        video_tmp, final_tmp = temporaries
        decoder = video_io.Decoder(input_path, info, plan, ahead=batch_size)
        encoder = video_io.Encoder(video_tmp, output_path, info, plan, ahead=batch_size)
        batch, repeats, last = [], [], (None, None)   # last: (input frame, its output)

        def flush():
            nonlocal written, deblurred, last
            for frame, out, count in zip(batch, restore(np.stack(batch)), repeats):
                for _ in range(count):
                    encoder.send(out)
                written += count
                last = (frame, out)
            deblurred += len(batch)
            bar.update(sum(repeats))
            batch.clear()
            repeats.clear()

        with tqdm(total=expected, desc="deblurring", unit="frame") as bar:
            for frame in decoder.frames():
                if batch and np.array_equal(frame, batch[-1]):
                    repeats[-1] += 1
                elif not batch and last[0] is not None and np.array_equal(frame, last[0]):
                    encoder.send(last[1])
                    written += 1
                    bar.update(1)
                else:
                    batch.append(frame)
                    repeats.append(1)
                    if len(batch) == batch_size:
                        flush()
            if batch:
                flush()
        encoder.finish()
        short = _ended_early(input_path, info, written)
        if short and os.path.exists(output_path):
            raise VideoError(f"{short}; nothing was written ({output_path} exists and was kept)")
        result = video_tmp
        if info.other_streams:
            status, _, text = video_io.run_ffmpeg(
                "-loglevel", "error", "-i", video_io.ffmpeg_path(video_tmp),
                "-i", video_io.ffmpeg_path(input_path), *video_io.other_streams_args(),
                "-map_metadata", "1", "-y", video_io.ffmpeg_path(final_tmp),
                timeout=video_io.WAIT_LIMIT + written / 10)
            if status:
                raise VideoError(f"cannot copy the other streams of {input_path} into "
                                 f"{output_path}: ffmpeg says: {video_io.ffmpeg_reason(text)}")
            result = final_tmp
        video_io.verify(result, output_path, written, info.rate)
        os.replace(result, output_path)
        if short:
            raise VideoError(f"{short}; the {written} frames decoded are deblurred in "
                             f"{output_path}")
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted):
            raise
        raise Interrupted(f"{written} frames deblurred; nothing was written to {output_path} "
                          "(a video is written whole or not at all)") from e
    finally:
        for stream in (decoder, encoder):
            if stream is not None:
                stream.close()
        for tmp in temporaries:
            if os.path.exists(tmp):
                os.remove(tmp)
    return VideoResult(output_path, written, deblurred, info.rate, len(info.other_streams),
                       not_kept)
