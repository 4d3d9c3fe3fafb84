"""Does carrying the ConvLSTM state from frame to frame (`--temporal_state`) change PSNR on video?

  python benchmarks/temporal_state.py --weights=checkpoints/train_lstm/model.keras

Makes one synthetic hand-held clip per embedded test photo (never seen in training): a 192×256
window pans slowly across the photo (about 3 px per frame along a smooth curve) and every frame is
blurred with its own random camera-shake trajectory and noise, exactly as the embedded dataset
blurs (`srn_tf.embedded.synthesize`). Each clip is deblurred twice with the same lstm weights:
frame by frame as the release did (state reset per image), and with the state carried. Prints
mean PSNR / SSIM against the sharp frames, the per-frame PSNR change (carried − reset), and a
flicker figure: RMS of (Δ output − Δ sharp) between consecutive frames, in grey levels, and the
PSNR change by frame index (does the effect build up along the clip?).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("weights", None, "an lstm model (.keras or original checkpoint)")
flags.DEFINE_integer("frames", 24, "frames per clip")
flags.DEFINE_integer("height", 192, "frame height")
flags.DEFINE_integer("width", 256, "frame width")
flags.DEFINE_integer("seed", 0, "seed of the pan paths and the blur")
flags.mark_flag_as_required("weights")
FLAGS = flags.FLAGS


def synthetic_clip(photo, count, height, width, rng):
    """(sharp, blurry) lists of uint8 frames: a slow smooth pan with per-frame camera shake."""
    from srn_tf.embedded import synthesize
    span_y, span_x = photo.shape[0] - height, photo.shape[1] - width
    t = np.linspace(0.0, 1.0, count)
    start = rng.uniform(0.0, 0.3, size=2)
    path_y = span_y * (start[0] + 0.4 * t + 0.1 * np.sin(np.pi * t))
    path_x = span_x * (start[1] + 0.5 * t)
    sharp, blurry = [], []
    for y, x in zip(np.round(path_y).astype(int), np.round(path_x).astype(int)):
        frame = np.ascontiguousarray(photo[y:y + height, x:x + width])
        sharp.append(frame)
        blurry.append(synthesize(frame, rng)["blur"])
    return sharp, blurry


def flicker(outputs, sharp):
    """RMS over pixels and frame pairs of (out_t − out_t−1) − (sharp_t − sharp_t−1), grey levels."""
    out, ref = np.asarray(outputs, np.float64), np.asarray(sharp, np.float64)
    return float(np.sqrt(np.mean((np.diff(out, axis=0) - np.diff(ref, axis=0)) ** 2)))


def main(argv):
    del argv
    import srn_tf
    from srn_tf import metrics
    from srn_tf.embedded import PHOTOS, load_photo
    from srn_tf.video import TemporalDeblurrer
    model = srn_tf.load_model(FLAGS.weights)
    temporal = TemporalDeblurrer(model)
    rng = np.random.default_rng(FLAGS.seed)
    rows = {"blurry": [], "reset per frame (release)": [], "state carried": []}
    gains = []
    for name in PHOTOS["test"]:
        sharp, blurry = synthetic_clip(load_photo(name), FLAGS.frames, FLAGS.height, FLAGS.width,
                                       rng)
        temporal.reset()
        results = {"blurry": blurry,
                   "reset per frame (release)": [srn_tf.deblur(model, b) for b in blurry],
                   "state carried": [temporal(b) for b in blurry]}
        for label, frames in results.items():
            psnrs = [metrics.psnr(s, f) for s, f in zip(sharp, frames)]
            ssims = [metrics.ssim(s, f) for s, f in zip(sharp, frames)]
            rows[label].append((psnrs, ssims, flicker(frames, sharp)))
        gains.append(np.subtract(rows["state carried"][-1][0],
                                 rows["reset per frame (release)"][-1][0]))
        print(f"{name}: {FLAGS.frames} frames, PSNR reset {np.mean(rows['reset per frame (release)'][-1][0]):.2f}"
              f" dB, carried {np.mean(rows['state carried'][-1][0]):.2f} dB", flush=True)
    print(f"\n{len(PHOTOS['test'])} clips × {FLAGS.frames} frames of {FLAGS.height}×{FLAGS.width}")
    print(f"{'':28s} {'PSNR dB':>8s} {'SSIM':>7s} {'flicker':>8s}")
    for label, clips in rows.items():
        psnr = np.mean([p for clip in clips for p in clip[0]])
        ssim = np.mean([s for clip in clips for s in clip[1]])
        print(f"{label:28s} {psnr:8.2f} {ssim:7.4f} {np.mean([c[2] for c in clips]):8.2f}")
    gains = np.array(gains)                     # [clips, frames]
    print(f"per-frame PSNR change, carried − reset: mean {gains.mean():+.3f} dB, "
          f"min {gains.min():+.3f}, max {gains.max():+.3f}, "
          f"better on {np.mean(gains > 0):.0%} of frames")
    indices = [i for i in (0, 1, 2, 3, 5, 8, 12, 16) if i < FLAGS.frames] + [FLAGS.frames - 1]
    print("mean change by frame index (0 = first frame, no state yet): " +
          ", ".join(f"{i}: {gains[:, i].mean():+.2f}" for i in dict.fromkeys(indices)))


if __name__ == "__main__":
    app.run(main)
