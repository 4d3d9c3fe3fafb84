"""Video at the network's speed: the whole video path's frames/s against the network's own.

  python benchmarks/video_speed.py --weights=checkpoints/train_color/model.keras
  python benchmarks/video_speed.py --sizes=128x96 --seconds=1     # a quick check that it runs

For each size (default 720p and 1080p) it makes a clip from a real blurry photo
(../shared/data/real_blur/01.png, resized so that a window of the size can pan across it: 10 fps,
--seconds long, H.264), then in this process, with the model loaded and its graph traced:
  * network: frames/s of the deblurring alone on those frames, decoded beforehand as
    `srn_tf.video.deblur_video` decodes them and deblurred in batches of --batch_size with the
    same function (`frame_restorer`);
  * whole: frames/s of `deblur_video` on the clip, everything included (probe, output check,
    decoding, deblurring, encoding, read-back check);
  * their ratio: how close the whole path comes to the network (decoding and encoding run in
    their own threads and ffmpeg processes, overlapping the network);
  * video I/O: frames/s of `deblur_video` with the network replaced by the identity (decoding,
    encoding and the checks alone), and "one after another": the whole path's frames/s if the
    network and the I/O took turns, 1 / (1/network + 1/I/O), which the overlap beats.
It prints the CPU model and ISA first. Without --weights a color model with random weights is
timed (the speed does not depend on the weights' values).
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from srn_tf.hardware import describe as cpu_description  # noqa: E402
from srn_tf import cli  # noqa: E402

PHOTO = os.path.join(ROOT, "..", "shared", "data", "real_blur", "01.png")
RATE = 10

flags.DEFINE_string("weights", None, "weights to time (.keras, a run's folder or a release "
                    "checkpoint); default: a color model with random weights")
flags.DEFINE_list("sizes", ["1280x720", "1920x1080"], "WxH of the clips")
flags.DEFINE_float("seconds", 3.0, "length of each clip, at 10 fps")
flags.DEFINE_integer("batch_size", 4, "frames deblurred together (deblur.py's --batch_size)")
FLAGS = flags.FLAGS


def make_clip(path, width, height, count):
    """An H.264 clip of `count` frames: a width×height window panning across the photo."""
    import imageio_ffmpeg
    from PIL import Image
    photo = Image.open(PHOTO).convert("RGB")
    scale = max(1.25 * width / photo.width, 1.25 * height / photo.height)
    photo = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)),
                                    Image.BICUBIC))
    room_y, room_x = photo.shape[0] - height, photo.shape[1] - width
    frames = b"".join(
        np.ascontiguousarray(photo[round(room_y * t):round(room_y * t) + height,
                                   round(room_x * t):round(room_x * t) + width]).tobytes()
        for t in np.linspace(0, 1, count))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-framerate", str(RATE), "-i", "pipe:", "-c:v", "libx264", "-crf", "18",
                    "-pix_fmt", "yuv420p", path], input=frames, check=True)


def decoded_frames(path):
    """The clip's frames as `deblur_video` decodes them."""
    from srn_tf import video_io
    info = video_io.probe(path)
    decoder = video_io.Decoder(path, info, video_io.coding(path, info), ahead=4)
    try:
        return list(decoder.frames())
    finally:
        decoder.close()


def network_rate(restore, frames, batch_size):
    """frames/s of `restore` alone over `frames`, in batches (after one warm-up batch)."""
    restore(np.stack(frames[:batch_size]))
    start = time.perf_counter()
    for i in range(0, len(frames), batch_size):
        restore(np.stack(frames[i:i + batch_size]))
    return len(frames) / (time.perf_counter() - start)


def whole_rate(model, clip, output, count):
    """frames/s of `deblur_video` on `clip`, everything included."""
    from srn_tf import video
    start = time.perf_counter()
    result = video.deblur_video(model, clip, output, FLAGS.batch_size)
    seconds = time.perf_counter() - start
    assert result.deblurred == count == result.frames, result   # a pan: no frame repeats
    return count / seconds


def main(argv):
    del argv
    from srn_tf import build_srn, load_model, video
    print(f"{time.strftime('%Y-%m-%d')}, {cpu_description()}, {os.cpu_count()} cores")
    model = load_model(FLAGS.weights) if FLAGS.weights else build_srn("color")
    print(f"weights: {FLAGS.weights or 'color, random'}; batch {FLAGS.batch_size}; clips of "
          f"{FLAGS.seconds:g} s at {RATE} fps from {os.path.basename(PHOTO)}")
    print(f"{'size':>10} {'frames':>6} {'network f/s':>12} {'whole f/s':>10} {'ratio':>6} "
          f"{'video I/O f/s':>14} {'one after another':>18}")
    count = max(2, round(FLAGS.seconds * RATE))
    with tempfile.TemporaryDirectory() as tmp:
        for size in FLAGS.sizes:
            width, height = (int(v) for v in size.lower().split("x"))
            clip = os.path.join(tmp, f"clip{size}.mp4")
            make_clip(clip, width, height, count)
            frames = decoded_frames(clip)
            network = network_rate(video.frame_restorer(model), frames, FLAGS.batch_size)
            whole = whole_rate(model, clip, os.path.join(tmp, f"out{size}.mp4"), len(frames))
            restorer = video.frame_restorer
            video.frame_restorer = lambda *args, **kwargs: (lambda batch: batch)   # identity
            try:
                io = whole_rate(model, clip, os.path.join(tmp, f"io{size}.mp4"), len(frames))
            finally:
                video.frame_restorer = restorer
            print(f"{size:>10} {len(frames):>6} {network:>12.3f} {whole:>10.3f} "
                  f"{whole / network:>6.2f} {io:>14.3f} {1 / (1 / network + 1 / io):>18.3f}")


if __name__ == "__main__":
    cli.run(main)   # --verbose, quiet logging, one-line errors
