"""Peak memory of deblurring a short and a 4× longer video: streaming keeps it flat.

  python benchmarks/video_memory.py [--frames=24 --height=240 --width=320]

Makes two synthetic videos (moving real photo crops) of --frames and 4 × --frames frames, deblurs
each with deblur.py in a fresh process under /usr/bin/time-like accounting (ru_maxrss of the child),
and prints both peaks and their ratio.
"""

import os
import resource
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("frames", 24, "frames of the short video (the long one has 4×)")
flags.DEFINE_integer("height", 240, "frame height")
flags.DEFINE_integer("width", 320, "frame width")
FLAGS = flags.FLAGS


def make_video(path, count, height, width):
    import imageio_ffmpeg
    from srn_tf.embedded import load_photo
    photo = load_photo("astronaut")
    writer = imageio_ffmpeg.write_frames(path, (width, height), fps=24, macro_block_size=1)
    writer.send(None)
    for i in range(count):
        y, x = (3 * i) % (photo.shape[0] - height), (5 * i) % (photo.shape[1] - width)
        writer.send(np.ascontiguousarray(photo[y:y + height, x:x + width]))
    writer.close()


def child_peak_mib(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


def main(argv):
    del argv
    from srn_tf import build_srn
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "m.keras")
        build_srn("color").save(weights)
        peaks = []
        for count in (FLAGS.frames, 4 * FLAGS.frames):   # short first: children's max only grows
            video = os.path.join(tmp, f"in{count}.mp4")
            make_video(video, count, FLAGS.height, FLAGS.width)
            peaks.append(child_peak_mib([sys.executable, "deblur.py", f"--input={video}",
                                         f"--output={tmp}/out{count}.mp4",
                                         f"--weights={weights}"]))
            print(f"{count} frames of {FLAGS.width}x{FLAGS.height}: peak RSS {peaks[-1]:.0f} MiB")
        print(f"long / short: {peaks[1] / peaks[0]:.2f}x")


if __name__ == "__main__":
    app.run(main)
