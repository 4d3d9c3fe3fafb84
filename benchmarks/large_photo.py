"""Peak memory of deblurring one large photo (a phone's 50–200 MP), the whole file path measured.

  python benchmarks/large_photo.py                           # 12000×9000 JPEG, network stubbed
  python benchmarks/large_photo.py --width=2400 --height=1800 --network   # with the network
  python benchmarks/large_photo.py --orientation=6 --alpha   # EXIF turn; RGBA PNG input

Makes a --width × --height photo (scikit-image's astronaut, resized and tiled, with the camera's
EXIF orientation tag --orientation; a JPEG, or with --alpha an RGBA PNG) in a temporary folder,
then deblurs it in a fresh process with `srn_tf.deblur_lib.deblur_file`, as deblur.py does:
decode, EXIF turn, alpha split, the tiled blend (default tile plan), output encode and write.
Without --network each tile's network is replaced by the identity (the tile ÷ 255 as float32), so
the figure is the file path's own memory, which grows with the photo; the network's own peak is
per tile, bounded by the tile plan's memory budget whatever the photo's size (with --network, a
random-weight color model; slow on CPU: about a minute per 2 MP on 2 cores).

Prints the CPU, the process's peak resident memory (VmHWM) after the imports and after the photo,
the difference in MiB and in bytes per pixel, the time, and the limit srn-tf computes for this
machine (`srn_tf.image_io.max_pixels`).
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from srn_tf.hardware import describe  # noqa: E402

flags.DEFINE_integer("width", 12000, "photo width in pixels")
flags.DEFINE_integer("height", 9000, "photo height in pixels")
flags.DEFINE_integer("orientation", 1, "EXIF orientation tag of the photo (1: as stored, 6: a "
                     "phone held upright)")
flags.DEFINE_boolean("alpha", False, "an RGBA PNG instead of a JPEG")
flags.DEFINE_boolean("network", False, "run the real network (a random-weight color model) "
                     "instead of the identity per tile")
flags.DEFINE_string("child", None, "internal: measure this file in this process")
FLAGS = flags.FLAGS


def peak_rss_mib():
    """This process's peak resident memory, MiB (VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def make_photo(path, width, height, orientation, alpha):
    import numpy as np
    from PIL import Image
    from skimage.data import astronaut     # (srn-tf, which imports TensorFlow, only in the child)
    tile = Image.fromarray(astronaut()).resize((1500, 1500), Image.BICUBIC)
    canvas = Image.new("RGB", (width, height))
    for y in range(0, height, 1500):
        for x in range(0, width, 1500):
            canvas.paste(tile, (x, y))
    exif = Image.Exif()
    exif[0x0112] = orientation
    if alpha:
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        canvas.putalpha(Image.fromarray(np.broadcast_to(y, (height, width)).astype(np.uint8)))
        canvas.save(path, exif=exif, compress_level=1)
    else:
        canvas.save(path, quality=90, exif=exif)


def measure(path):
    import numpy as np
    import srn_tf  # noqa: F401  (TensorFlow imported quietly)
    from srn_tf import deblur_lib, image_io
    from srn_tf.inference import DEFAULT_OVERLAP, blend_tiles, plan_tiles
    if FLAGS.network:
        from srn_tf import build_srn
        from srn_tf.video import frame_restorer
        restore = frame_restorer(build_srn("color"))
    else:
        def restore(batch):
            tile = plan_tiles(batch.shape[1], batch.shape[2])
            return blend_tiles(lambda t: t.astype(np.float32) / np.float32(255), batch, tile,
                               DEFAULT_OVERLAP)
    before = peak_rss_mib()
    start = time.perf_counter()
    deblur_lib.deblur_file(restore, "color", path, path + ".out.png")
    seconds = time.perf_counter() - start
    after = peak_rss_mib()
    pixels = FLAGS.width * FLAGS.height
    print(f"{FLAGS.width}×{FLAGS.height} ({pixels / 1e6:.0f} MP), "
          f"{'RGBA PNG' if FLAGS.alpha else 'JPEG'}, EXIF orientation {FLAGS.orientation}, "
          f"{'network' if FLAGS.network else 'network stubbed (identity per tile)'}")
    print(f"peak RSS: {before:.0f} MiB after imports, {after:.0f} MiB after the photo: "
          f"+{after - before:.0f} MiB, {(after - before) * 2**20 / pixels:.1f} bytes/pixel; "
          f"{seconds:.1f} s")
    channels = 4 if FLAGS.alpha else 3
    print(f"srn-tf's limit on this machine ({image_io.machine_memory() / 2**30:.1f} GiB): "
          f"{image_io.max_pixels(channels, 1) / 1e6:.0f} MP of 8-bit "
          f"{'RGBA' if FLAGS.alpha else 'RGB'}")


def main(argv):
    del argv
    if FLAGS.child:
        measure(FLAGS.child)
        return
    print(f"CPU: {describe()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "photo.png" if FLAGS.alpha else "photo.jpg")
        make_photo(path, FLAGS.width, FLAGS.height, FLAGS.orientation, FLAGS.alpha)
        print(f"input {os.path.getsize(path) / 2**20:.0f} MiB")
        subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={path}"]
                       + sys.argv[1:], check=True, cwd=ROOT)


if __name__ == "__main__":
    app.run(main)
