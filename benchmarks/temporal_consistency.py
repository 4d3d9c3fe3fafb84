"""PSNR, SSIM and flicker (warping error) of every way srn-tf deblurs a video, on held-out clips.

  python benchmarks/temporal_consistency.py --weights=checkpoints/train_color
  python benchmarks/temporal_consistency.py --weights=checkpoints/train_lstm \\
      --recurrent_weights=checkpoints/train_lstm_clips --strengths=0.3,0.5,0.7

The clips are `srn_tf.embedded.clips("test")`: one synthetic hand-held clip per embedded test
photo (never seen in training), 24 frames of 192×256, a slow pan with each frame blurred by its
own camera shake, with the sharp frames as truth. Rows: the blurry input; frame by frame (the
release's way, srn-tf's default); the consistent mode (`srn_tf.temporal.ConsistentFilter`) at
each --strengths; for lstm weights the ConvLSTM state carried from frame to frame
(`--temporal_state`), with --weights and, if given, with --recurrent_weights (a model trained on
clips); and the sharp frames (their warping error is that of the true content). PSNR/SSIM are
srn-tf's (`srn_tf.metrics`), means over all frames; E_warp is Lai et al.'s warping error
(`srn_tf.temporal`), mean over the clips, with the flow of the input frames for every row.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from srn_tf import cli  # noqa: E402  (first: the quiet TensorFlow import)

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("weights", None, "the model (.keras, run folder or release checkpoint)")
flags.DEFINE_string("recurrent_weights", None, "lstm only: a model trained on clips with the "
                    "state carried (benchmarks/recurrent_clips.py), run with --temporal_state")
flags.DEFINE_list("strengths", ["0.5"], "strengths of the consistent mode to compare")
flags.DEFINE_integer("seed", 0, "seed of the clips")
flags.mark_flag_as_required("weights")
FLAGS = flags.FLAGS


def _rows(model, recurrent, strengths, clips):
    """{row label: [(clip outputs) per clip]} for every method the weights allow."""
    import srn_tf
    from srn_tf.model import model_type_of
    from srn_tf.temporal import ConsistentFilter
    from srn_tf.video import TemporalDeblurrer
    rows = {"blurry input": [], "frame by frame (release)": []}
    rows.update({f"consistent, strength {s:g}": [] for s in strengths})
    carried = {}
    if model_type_of(model) == "lstm":
        carried["state carried (--temporal_state)"] = TemporalDeblurrer(model)
    if recurrent is not None:
        carried["state carried, trained on clips"] = TemporalDeblurrer(recurrent)
        rows["clip-trained weights, frame by frame"] = []
    rows.update({label: [] for label in carried})
    for name, sharp, blurry in clips:
        per_frame = [srn_tf.deblur(model, frame) for frame in blurry]
        rows["blurry input"].append(blurry)
        rows["frame by frame (release)"].append(per_frame)
        for s in strengths:
            consistent = ConsistentFilter(s)
            rows[f"consistent, strength {s:g}"].append(
                [consistent.filter(i, o) for i, o in zip(blurry, per_frame)])
        for label, temporal in carried.items():
            temporal.reset()
            rows[label].append([temporal(frame) for frame in blurry])
        if recurrent is not None:
            rows["clip-trained weights, frame by frame"].append(
                [srn_tf.deblur(recurrent, frame) for frame in blurry])
        print(f"{name}: {len(blurry)} frames deblurred", flush=True)
    return rows


def main(argv):
    del argv
    import srn_tf
    from srn_tf import embedded, metrics
    from srn_tf.temporal import WarpingError
    model = srn_tf.load_model(FLAGS.weights)
    recurrent = srn_tf.load_model(FLAGS.recurrent_weights) if FLAGS.recurrent_weights else None
    strengths = [float(s) for s in FLAGS.strengths]
    clips = embedded.clips("test", FLAGS.seed)
    rows = _rows(model, recurrent, strengths, clips)
    labels = list(rows) + ["sharp frames"]
    errors = {label: [] for label in labels}
    for k, (name, sharp, blurry) in enumerate(clips):
        measure = WarpingError()
        for t, frame in enumerate(blurry):
            measure.add(frame, *[rows[label][k][t] for label in rows], sharp[t])
        for label, value in zip(labels, measure.values):
            errors[label].append(value)
    frames = sum(len(c[1]) for c in clips)
    print(f"\n{len(clips)} held-out clips, {frames} frames of {clips[0][1][0].shape[1]}×"
          f"{clips[0][1][0].shape[0]}; weights {FLAGS.weights}")
    reference = np.mean(errors["frame by frame (release)"])
    print(f"{'':36s} {'PSNR dB':>8s} {'SSIM':>7s} {'E_warp ×1e3':>12s} {'vs frame by frame':>18s}")
    for label in labels:
        e_warp = np.mean(errors[label])
        change = f"{e_warp / reference - 1:+.0%}"
        if label == "sharp frames":
            print(f"{label:36s} {'—':>8s} {'—':>7s} {e_warp * 1e3:12.3f} {change:>18s}")
            continue
        outputs = [o for clip in rows[label] for o in clip]
        truth = [s for c in clips for s in c[1]]
        psnr = np.mean([metrics.psnr(s, o) for s, o in zip(truth, outputs)])
        ssim = np.mean([metrics.ssim(s, o) for s, o in zip(truth, outputs)])
        print(f"{label:36s} {psnr:8.2f} {ssim:7.4f} {e_warp * 1e3:12.3f} {change:>18s}")


if __name__ == "__main__":
    cli.run(main)
